//! AWS glue shared by the Lambdas and the ECS server (one mechanism for both):
//!
//! - the SDK configuration from the environment, over a hand-wired HTTPS client (hyper 1 +
//!   rustls with ring; app/README.md, "TLS", says why);
//! - the database secret (RDS-managed shape: JSON with `username` and `password`) read with
//!   `GetSecretValue`;
//! - [`secret_credentials`]: the initial credentials plus the [`fleet_db::Fetch`] closure the
//!   pool calls when PostgreSQL refuses the password, so a rotation needs no restart. The
//!   closure reads `AWSCURRENT` and, when a rotation is under way, `AWSPENDING` (the new password
//!   may already be set in the database while `AWSCURRENT` still holds the old one).
//!
//! fleet-db stays free of AWS: it only sees the closure.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use fleet_db::{CredentialCache, Credentials, Fetch};
use std::sync::Arc;
use std::time::Duration;

pub use aws_sdk_secretsmanager;

#[cfg(feature = "testing")]
pub mod testing;

/// Secrets Manager's staging label of the version in use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// Secrets Manager's staging label of a version being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";
/// How long one re-read of the secret may take (from r2d2's connection thread).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Reading or updating a database secret failed: the secret, what happened, what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} the database secret {arn} failed: {detail}; check {variable} and the role's secretsmanager:{operation} permission", if *.operation == "GetSecretValue" { "reading" } else { "updating" })]
pub struct SecretError {
    /// The secret's ARN (or name).
    pub arn: String,
    /// The environment variable that names it (`DB_SECRET_ARN`, `DB_MASTER_SECRET_ARN`, ...).
    pub variable: &'static str,
    /// The Secrets Manager action (`GetSecretValue`, `PutSecretValue`, ...), which the role needs.
    pub operation: &'static str,
    pub detail: String,
}

impl SecretError {
    pub fn new(arn: &str, variable: &'static str, operation: &'static str, detail: impl Into<String>) -> Self {
        Self { arn: arn.to_string(), variable, operation, detail: detail.into() }
    }
}

/// An SDK error in one line: the service's code and message when it answered, else the whole
/// chain of causes (a connection error, a timeout).
pub fn sdk_error_text<E, R>(e: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(service) => format!("{}: {}", service.code().unwrap_or("error"), service.message().unwrap_or("(no message)")),
        None => DisplayErrorContext(e).to_string(),
    }
}

#[derive(serde::Deserialize)]
struct SecretShape {
    username: String,
    password: String,
}

/// Parses an RDS-managed secret (`{"username": .., "password": .., ...}`).
pub fn parse_secret(arn: &str, variable: &'static str, secret: &str) -> Result<Credentials, SecretError> {
    let s: SecretShape = serde_json::from_str(secret).map_err(|e| {
        SecretError::new(arn, variable, "GetSecretValue", format!("the secret is not JSON with string keys username and password ({e})"))
    })?;
    Ok(Credentials::new(s.username, s.password))
}

/// The SDK's HTTPS client: hyper 1 + rustls with the ring crypto provider, trusting the system's
/// CA store.
pub fn http_client() -> aws_sdk_secretsmanager::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client()).load().await
}

/// One version of a secret: its id, its staging labels and its text.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretVersion {
    pub version_id: String,
    pub stages: Vec<String>,
    pub text: String,
}

impl std::fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersion").field("version_id", &self.version_id).field("stages", &self.stages).finish()
    }
}

/// The version of `arn` carrying `stage`, or None when there is none. Secrets Manager answers
/// ResourceNotFoundException both for a secret without such a version and (moto) for a missing
/// secret; callers that need the secret to exist find out on their next call (or, for
/// `AWSCURRENT`, from [`fetch_credentials`]'s message).
pub async fn get_version(client: &Client, arn: &str, variable: &'static str, stage: &str) -> Result<Option<SecretVersion>, SecretError> {
    let failed = |detail: String| SecretError::new(arn, variable, "GetSecretValue", detail);
    match client.get_secret_value().secret_id(arn).version_stage(stage).send().await {
        Ok(out) => {
            let text = out.secret_string().ok_or_else(|| failed(format!("its {stage} version has no SecretString")))?;
            Ok(Some(SecretVersion {
                version_id: out.version_id().unwrap_or_default().to_string(),
                stages: out.version_stages().to_vec(),
                text: text.to_string(),
            }))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(failed(sdk_error_text(&e))),
    }
}

/// The database credentials of `arn`'s `AWSCURRENT` version.
pub async fn fetch_credentials(client: &Client, arn: &str, variable: &'static str) -> Result<Credentials, SecretError> {
    let current = get_version(client, arn, variable, AWSCURRENT).await?.ok_or_else(|| {
        SecretError::new(
            arn,
            variable,
            "GetSecretValue",
            "no such secret, or it has no value yet (no AWSCURRENT version; the migrate function writes the runtime role's)",
        )
    })?;
    parse_secret(arn, variable, &current.text)
}

/// The candidates after a refused password: `AWSCURRENT`, then `AWSPENDING` when a rotation is
/// under way (a pending version that does not parse is skipped: it is not ours to judge).
pub async fn fetch_candidates(client: &Client, arn: &str, variable: &'static str) -> Result<Vec<Credentials>, SecretError> {
    let mut found = vec![fetch_credentials(client, arn, variable).await?];
    if let Some(pending) = get_version(client, arn, variable, AWSPENDING).await?
        && !pending.stages.iter().any(|s| s == AWSCURRENT)
        && let Ok(c) = parse_secret(arn, variable, &pending.text)
    {
        found.push(c);
    }
    Ok(found)
}

/// The blocking re-read the pool calls (from r2d2's threads): runs [`fetch_candidates`] on the
/// process's Tokio runtime (`handle`), bounded by [`FETCH_TIMEOUT`].
pub fn blocking_fetch(handle: tokio::runtime::Handle, client: Client, arn: String, variable: &'static str) -> Fetch {
    Arc::new(move || {
        let (client, arn) = (client.clone(), arn.clone());
        let fetch = async move {
            match tokio::time::timeout(FETCH_TIMEOUT, fetch_candidates(&client, &arn, variable)).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("reading the database secret {arn} took over {FETCH_TIMEOUT:?}; check the network path to Secrets Manager")),
            }
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // On a runtime thread `block_on` would panic: wait from a thread of our own.
            let handle = handle.clone();
            std::thread::spawn(move || handle.block_on(fetch)).join().map_err(|_| "re-reading the secret panicked".to_string())?
        } else {
            handle.block_on(fetch)
        }
    })
}

/// The credentials of `arn` now, in a cache that re-reads them (at most once per
/// [`fleet_db::credentials::REFRESH_INTERVAL`]) when PostgreSQL refuses them.
pub async fn secret_credentials(sdk: &SdkConfig, arn: &str, variable: &'static str) -> Result<Arc<CredentialCache>, SecretError> {
    let client = Client::new(sdk);
    let initial = fetch_credentials(&client, arn, variable).await?;
    let fetch = blocking_fetch(tokio::runtime::Handle::current(), client, arn.to_string(), variable);
    Ok(Arc::new(CredentialCache::refreshing(initial, fetch, fleet_db::credentials::REFRESH_INTERVAL)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_shape() {
        assert_eq!(
            parse_secret("a", "DB_SECRET_ARN", r#"{"username":"app","password":"p'\"w","engine":"postgres"}"#).unwrap(),
            Credentials::new("app", "p'\"w")
        );
        let e = parse_secret("arn:x", "DB_SECRET_ARN", r#"{"user":"app"}"#).unwrap_err().to_string();
        assert!(e.starts_with("reading the database secret arn:x failed: the secret is not JSON"), "{e}");
        assert!(e.ends_with("check DB_SECRET_ARN and the role's secretsmanager:GetSecretValue permission"), "{e}");
    }
}
