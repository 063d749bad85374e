//! `authorizer`: the API Gateway TOKEN authorizer Lambda. See the library docs.

use fleet_core::RouteTable;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fleet_lambda::init_tracing();
    let table = RouteTable::embedded();
    let sdk = fleet_lambda::sdk_config().await;
    let pool = fleet_lambda::init_database(&sdk).await?;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        fleet_authorizer::handle(pool.clone(), table, e.payload)
    }))
    .await
}
