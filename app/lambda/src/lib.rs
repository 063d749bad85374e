//! Glue shared by the Lambda entry points: configuration from the environment
//! (docs/contracts.md section 3), the database secret read from Secrets Manager with the AWS SDK
//! at init (never from an environment variable) and re-read when PostgreSQL refuses the password
//! (`fleet-aws`), the connection pool, and tracing.

use aws_config::SdkConfig;
use fleet_db::{ConnInfo, Pool, conninfo::SSLMODES};
use std::time::Duration;

pub use fleet_aws::{SecretError, http_client, parse_secret, sdk_config};
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
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}: fix the function's environment")]
    Tls(String),
}

/// The database settings of section 3 (the credentials come from the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSettings {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub sslmode: String,
    /// `DB_SSLROOTCERT`: the CA bundle for `verify-ca`/`verify-full`.
    pub sslrootcert: Option<String>,
    pub secret_arn: String,
}

/// A variable that must be set and non-empty.
pub fn required(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<String, ConfigError> {
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
        Self::with_secret_variable(&get, "DB_SECRET_ARN")
    }

    /// The same, the secret's ARN read from `secret_variable` (the migrate function reads
    /// `DB_MASTER_SECRET_ARN`).
    pub fn with_secret_variable(get: &impl Fn(&str) -> Option<String>, secret_variable: &'static str) -> Result<Self, ConfigError> {
        let host = required(get, "DB_HOST")?;
        let port = get("DB_PORT").map_or(Ok(5432), |v| parse_port("DB_PORT", &v))?;
        let dbname = required(get, "DB_NAME")?;
        let sslmode = parse_sslmode(get("DB_SSLMODE"))?;
        let (sslmode, sslrootcert) = fleet_db::conninfo::tls_settings(Some(sslmode), get("DB_SSLROOTCERT")).map_err(ConfigError::Tls)?;
        Ok(Self { host, port, dbname, sslmode, sslrootcert, secret_arn: required(get, secret_variable)? })
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
            sslrootcert: self.sslrootcert.clone(),
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

/// How long an invocation waits for a pooled connection (seconds). A rotated password costs a
/// refused attempt (milliseconds), a re-read of the secret and a second attempt inside the same
/// connect, so it fits; the bound is for an unreachable database.
pub const POOL_TIMEOUT_S: u64 = CONNECT_TIMEOUT_S as u64 + 1;

/// A one-connection pool (a Lambda sandbox serves one invocation at a time) that connects lazily,
/// reconnects after a failure, and re-reads `credentials` when PostgreSQL refuses them.
pub fn lambda_pool(settings: &DbSettings, credentials: std::sync::Arc<fleet_db::CredentialCache>) -> Pool {
    let info = settings.conninfo(String::new(), String::new());
    fleet_db::credential_pool(info, credentials, 1, Duration::from_secs(POOL_TIMEOUT_S))
}

/// Everything a database-backed Lambda needs at init: settings, the secret (read now and again
/// after a rotation), the pool.
pub async fn init_database(sdk: &SdkConfig) -> Result<Pool, ConfigError> {
    let settings = DbSettings::from_env()?;
    let credentials = fleet_aws::secret_credentials(sdk, &settings.secret_arn, "DB_SECRET_ARN").await?;
    Ok(lambda_pool(&settings, credentials))
}

/// Logging as Lambda expects (honours `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG`, `AWS_LAMBDA_LOG_FORMAT`).
pub fn init_tracing() {
    use lambda_runtime::tracing::subscriber::{
        self,
        filter::{EnvFilter, LevelFilter},
    };
    // What lambda_runtime's init_default_subscriber does (Lambda's advanced logging controls:
    // AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, else RUST_LOG), without ANSI colours: the
    // default writes escape codes whatever stdout is, and CloudWatch Logs keeps them as bytes.
    let format = std::env::var("AWS_LAMBDA_LOG_FORMAT").unwrap_or_default();
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level = level.as_deref().unwrap_or("INFO").parse::<LevelFilter>().unwrap_or(LevelFilter::INFO);
    let collector = subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .with_env_filter(EnvFilter::builder().with_default_directive(level.into()).from_env_lossy());
    if format.eq_ignore_ascii_case("json") {
        collector.json().init()
    } else {
        collector.init()
    }
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
    fn tls_settings_from_env() {
        let mut with_ca = FULL.to_vec();
        with_ca.push(("DB_SSLMODE", "verify-full"));
        let e = DbSettings::from_lookup(env(&with_ca)).unwrap_err().to_string();
        assert!(e.starts_with("DB_SSLMODE=verify-full needs DB_SSLROOTCERT"), "{e}");
        assert!(e.ends_with(": fix the function's environment"), "{e}");
        let exe: &'static str = std::env::current_exe().unwrap().display().to_string().leak();
        with_ca.push(("DB_SSLROOTCERT", exe));
        let s = DbSettings::from_lookup(env(&with_ca)).unwrap();
        let c = s.conninfo("u".into(), "p".into()).to_conninfo();
        assert!(c.ends_with(&format!("sslmode='verify-full' connect_timeout=5 application_name='fleet' sslrootcert='{exe}'")), "{c}");
    }
}
