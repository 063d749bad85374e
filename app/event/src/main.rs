//! `event`: the EventBridge "ECR Image Action" Lambda. See the library docs.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fleet_lambda::init_tracing();
    let repository = std::env::var("ECR_REPOSITORY_NAME")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or("ECR_REPOSITORY_NAME is not set: set it in the function's environment (components/rust_lambda.py sets it)")?;
    let sdk = fleet_lambda::sdk_config().await;
    let pool = fleet_lambda::init_database(&sdk).await?;
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let repository: &'static str = repository.leak();
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        let (pool, ecr) = (pool.clone(), ecr.clone());
        async move { fleet_event::handle(pool, &ecr, repository, e.payload).await }
    }))
    .await
}
