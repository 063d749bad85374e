//! `migrate`: the Lambda that owns the schema and the runtime role. See the library docs.

use fleet_migrate::Settings;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fleet_lambda::init_tracing();
    let settings: &'static Settings = Box::leak(Box::new(Settings::from_env()?));
    let sdk = fleet_lambda::sdk_config().await;
    let client = fleet_aws::aws_sdk_secretsmanager::Client::new(&sdk);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| fleet_migrate::handle(settings, client.clone(), e.payload)))
        .await
}
