//! Glue shared by the four Lambda entry points: configuration from the environment
//! (docs/contracts.md section 3), the database secret read from Secrets Manager with the AWS SDK
//! at init (never from an environment variable), the connection pool, and tracing.

use aws_config::{BehaviorVersion, SdkConfig};
use fleet_db::{ConnInfo, Pool, conninfo::SSLMODES};
use std::time::Duration;

pub use lambda_runtime;

/// How long a pooled connection may take to open before the invocation fails (seconds).
pub const CONNECT_TIMEOUT_S: u32 = 5;

/// A misconfiguration: one line naming the variable, the rule, the value and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set: set it in the function's environment (components/rust_lambda.py sets it)")]
    Missing { name: &'static str },
    #[error("{name} must be {rule}, got {got:?}: fix the function's environment")]
    Invalid { name: &'static str, rule: &'static str, got: String },
    #[error("reading the database secret {arn} failed: {detail}; check DB_SECRET_ARN and the role's secretsmanager:GetSecretValue permission")]
    Secret { arn: String, detail: String },
}

/// The database settings of section 3 (the credentials come from the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSettings {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub sslmode: String,
    pub secret_arn: String,
}

fn required(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<String, ConfigError> {
    get(name).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing { name })
}

/// Parses a port number.
pub fn parse_port(name: &'static str, v: &str) -> Result<u16, ConfigError> {
    v.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| ConfigError::Invalid {
        name,
        rule: "a port number from 1 to 65535",
        got: v.to_string(),
    })
}

/// Checks a libpq sslmode.
pub fn parse_sslmode(v: Option<String>) -> Result<String, ConfigError> {
    let v = v.filter(|s| !s.is_empty()).unwrap_or_else(|| "prefer".into());
    if SSLMODES.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(ConfigError::Invalid {
            name: "DB_SSLMODE",
            rule: "one of disable, allow, prefer, require, verify-ca, verify-full",
            got: v,
        })
    }
}

impl DbSettings {
    /// From a variable lookup (the process environment in `from_env`; a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            host: required(&get, "DB_HOST")?,
            port: get("DB_PORT").map_or(Ok(5432), |v| parse_port("DB_PORT", &v))?,
            dbname: required(&get, "DB_NAME")?,
            sslmode: parse_sslmode(get("DB_SSLMODE"))?,
            secret_arn: required(&get, "DB_SECRET_ARN")?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn conninfo(&self, user: String, password: String) -> ConnInfo {
        ConnInfo {
            host: self.host.clone(),
            port: self.port,
            dbname: self.dbname.clone(),
            user,
            password,
            sslmode: self.sslmode.clone(),
            connect_timeout_s: CONNECT_TIMEOUT_S,
        }
    }
}

/// A whole number of days from the environment, `default` when unset.
pub fn env_days(get: impl Fn(&str) -> Option<String>, name: &'static str, default: i64) -> Result<i64, ConfigError> {
    match get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse::<i64>().ok().filter(|d| (1..=3650).contains(d)).ok_or(ConfigError::Invalid {
            name,
            rule: "a whole number of days from 1 to 3650",
            got: v,
        }),
    }
}

#[derive(serde::Deserialize)]
struct SecretShape {
    username: String,
    password: String,
}

/// Parses an RDS-managed secret (`{"username": .., "password": .., ...}`).
pub fn parse_secret(arn: &str, secret: &str) -> Result<(String, String), ConfigError> {
    let s: SecretShape = serde_json::from_str(secret).map_err(|e| ConfigError::Secret {
        arn: arn.to_string(),
        detail: format!("the secret is not JSON with string keys username and password ({e})"),
    })?;
    Ok((s.username, s.password))
}

/// Reads the database credentials from Secrets Manager.
pub async fn fetch_credentials(sdk: &SdkConfig, arn: &str) -> Result<(String, String), ConfigError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| ConfigError::Secret {
        arn: arn.to_string(),
        detail: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
    })?;
    let text = out.secret_string().ok_or_else(|| ConfigError::Secret {
        arn: arn.to_string(),
        detail: "the secret has no SecretString".into(),
    })?;
    parse_secret(arn, text)
}

/// The SDK's HTTPS client: hyper 1 + rustls with the ring crypto provider, trusting the system's
/// CA store (README.md, "TLS", says why ring and why no per-target switch).
pub fn http_client() -> aws_sdk_secretsmanager::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client()).load().await
}

/// A one-connection pool (a Lambda sandbox serves one invocation at a time) that connects lazily
/// and reconnects after a failure.
pub fn lambda_pool(info: &ConnInfo) -> Pool {
    fleet_db::pool(&info.to_conninfo(), 1, Duration::from_secs(u64::from(CONNECT_TIMEOUT_S) + 1))
}

/// Everything a database-backed Lambda needs at init: SDK config, settings, secret, pool.
pub async fn init_database(sdk: &SdkConfig) -> Result<Pool, ConfigError> {
    let settings = DbSettings::from_env()?;
    let (user, password) = fetch_credentials(sdk, &settings.secret_arn).await?;
    Ok(lambda_pool(&settings.conninfo(user, password)))
}

/// Logging as Lambda expects (honours `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG`, `AWS_LAMBDA_LOG_FORMAT`).
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    const FULL: [(&str, &str); 4] =
        [("DB_HOST", "db"), ("DB_NAME", "fleet"), ("DB_SECRET_ARN", "arn:aws:secretsmanager:r:1:secret:x"), ("DB_PORT", "6432")];

    #[test]
    fn settings_from_env() {
        let s = DbSettings::from_lookup(env(&FULL)).unwrap();
        assert_eq!((s.host.as_str(), s.port, s.sslmode.as_str()), ("db", 6432, "prefer"));
        let c = s.conninfo("u".into(), "p".into()).to_conninfo();
        assert!(c.contains("port=6432") && c.contains("sslmode='prefer'"), "{c}");
    }

    #[test]
    fn settings_errors_name_the_variable() {
        let e = DbSettings::from_lookup(env(&FULL[1..])).unwrap_err().to_string();
        assert!(e.starts_with("DB_HOST is not set"), "{e}");
        let mut bad = FULL.to_vec();
        bad[3] = ("DB_PORT", "http");
        let e = DbSettings::from_lookup(env(&bad)).unwrap_err().to_string();
        assert_eq!(e, "DB_PORT must be a port number from 1 to 65535, got \"http\": fix the function's environment");
        let mut bad = FULL.to_vec();
        bad.push(("DB_SSLMODE", "on"));
        assert!(DbSettings::from_lookup(env(&bad)).unwrap_err().to_string().starts_with("DB_SSLMODE must be one of"));
    }

    #[test]
    fn days() {
        assert_eq!(env_days(env(&[]), "TOKEN_RETENTION_DAYS", 30).unwrap(), 30);
        assert_eq!(env_days(env(&[("X", "7")]), "X", 30).unwrap(), 7);
        for bad in ["0", "-1", "7d", "99999"] {
            assert!(env_days(env(&[("X", bad)]), "X", 30).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_shape() {
        assert_eq!(
            parse_secret("a", r#"{"username":"app","password":"p'\"w","engine":"postgres"}"#).unwrap(),
            ("app".to_string(), "p'\"w".to_string())
        );
        let e = parse_secret("arn:x", r#"{"user":"app"}"#).unwrap_err().to_string();
        assert!(e.starts_with("reading the database secret arn:x failed: the secret is not JSON"), "{e}");
    }
}
