//! `timer`: the scheduled purge Lambda. See the library docs.

use fleet_timer::{DEFAULT_COMMAND_RETENTION_DAYS, DEFAULT_TOKEN_RETENTION_DAYS, Retention};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fleet_lambda::init_tracing();
    let env = |k: &str| std::env::var(k).ok();
    let retention = Retention {
        token_days: fleet_lambda::env_days(env, "TOKEN_RETENTION_DAYS", DEFAULT_TOKEN_RETENTION_DAYS)?,
        command_days: fleet_lambda::env_days(env, "COMMAND_RETENTION_DAYS", DEFAULT_COMMAND_RETENTION_DAYS)?,
    };
    let sdk = fleet_lambda::sdk_config().await;
    let pool = fleet_lambda::init_database(&sdk).await?;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| fleet_timer::handle(pool.clone(), retention, e.payload)))
        .await
}
