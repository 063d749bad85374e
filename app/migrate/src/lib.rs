//! The migrate Lambda: the only process that uses the RDS master secret.
//!
//! Each invocation (any JSON event; `{"rotate": true}` forces a new password), holding the
//! migration advisory lock:
//!
//! 1. reads the master credentials (`DB_MASTER_SECRET_ARN`, RDS-managed shape; read every time,
//!    since RDS rotates them) and connects as the master user;
//! 2. applies the embedded migrations;
//! 3. ensures the runtime role (`DB_APP_USERNAME`, default `fleet_app`): `LOGIN NOSUPERUSER
//!    NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`, a member of no role, owner of nothing,
//!    granted CONNECT, USAGE on schema public, SELECT/INSERT/UPDATE/DELETE on the tables, USAGE
//!    and SELECT on the sequences (also by default for what the master creates later), with
//!    `CREATE` on schema public revoked from PUBLIC ([`role`]);
//! 4. makes the app secret (`DB_APP_SECRET_ARN`) and the role's password agree, rotating in
//!    Secrets Manager's two phases when the secret has no value, its password is refused, or a
//!    rotation is asked for; an interrupted rotation is completed ([`rotation`]).
//!
//! Answer: `{"applied": [...], "role": "fleet_app", "rotated": true|false}`. Errors are
//! invocation errors with one line: the thing, the rule, the value, the fix.

pub mod role;
pub mod rotation;
pub mod scram;

use fleet_aws::SecretError;
use fleet_db::{Credentials, DbError};
use fleet_lambda::{ConfigError, DbSettings};
use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::Value;

pub use rotation::{SecretStore, SecretsManager};

/// The function's configuration (docs/contracts.md section 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The endpoint and TLS settings; `secret_arn` is the master secret's.
    pub db: DbSettings,
    /// `DB_APP_SECRET_ARN`: the runtime role's secret, written by this function.
    pub app_secret_arn: String,
    /// `DB_APP_USERNAME`: the runtime role (default `fleet_app`).
    pub app_username: String,
}

impl Settings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let db = DbSettings::with_secret_variable(&get, "DB_MASTER_SECRET_ARN")?;
        let app_secret_arn = fleet_lambda::required(&get, "DB_APP_SECRET_ARN")?;
        let app_username = get("DB_APP_USERNAME").filter(|v| !v.is_empty()).unwrap_or_else(|| role::DEFAULT_ROLE.into());
        if !role::valid_name(&app_username) {
            return Err(ConfigError::Invalid { name: "DB_APP_USERNAME", rule: role::NAME_RULE, got: app_username });
        }
        if app_secret_arn == db.secret_arn {
            return Err(ConfigError::Invalid {
                name: "DB_APP_SECRET_ARN",
                rule: "another secret than DB_MASTER_SECRET_ARN (the runtime role's, which this function writes)",
                got: app_secret_arn,
            });
        }
        Ok(Self { db, app_secret_arn, app_username })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The migrations applied now (versions), empty when the schema was up to date.
    pub applied: Vec<String>,
    /// The runtime role.
    pub role: String,
    /// Whether its password changed (and the app secret with it).
    pub rotated: bool,
}

/// Why an invocation failed; each is one line naming the thing, the rule, the value and the fix.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Event(String),
    #[error("{0}")]
    Database(String),
    #[error("{0}")]
    Role(String),
    #[error("{0}")]
    Rotation(String),
}

impl From<DbError> for MigrateError {
    fn from(e: DbError) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<diesel::result::Error> for MigrateError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(format!("database query failed: {e}"))
    }
}

impl From<MigrateError> for Diagnostic {
    fn from(e: MigrateError) -> Self {
        let kind = match &e {
            MigrateError::Config(_) => "ConfigError",
            MigrateError::Secret(_) => "SecretError",
            MigrateError::Event(_) => "InvalidEvent",
            MigrateError::Database(_) => "DatabaseError",
            MigrateError::Role(_) => "RoleError",
            MigrateError::Rotation(_) => "RotationError",
        };
        Diagnostic { error_type: kind.into(), error_message: e.to_string().replace('\n', " ") }
    }
}

/// `{"rotate": true}` asks for a new password; any other JSON (a schedule, `{}`) does not.
pub fn wants_rotation(event: &Value) -> Result<bool, MigrateError> {
    match event.get("rotate") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(MigrateError::Event(format!(
            "the event's \"rotate\" must be true or false, got {other}: invoke with {{\"rotate\": true}} for a new password, or any other JSON to migrate"
        ))),
    }
}

/// The whole job with the master credentials, blocking (a `spawn_blocking` thread).
pub fn run(settings: &Settings, master: &Credentials, store: &dyn SecretStore, rotate: bool) -> Result<Outcome, MigrateError> {
    let db = &settings.db;
    let info = db.conninfo(master.username.clone(), master.password.clone());
    let mut conn = fleet_db::connect(&info.to_conninfo()).map_err(|e| {
        MigrateError::Database(format!(
            "connecting to {}:{}/{} as the master user {} failed: {}; check DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE and the master secret (DB_MASTER_SECRET_ARN)",
            db.host,
            db.port,
            db.dbname,
            master.username,
            e.to_string().trim_end().replace('\n', " ")
        ))
    })?;
    let role = settings.app_username.as_str();
    let target = db.conninfo(String::new(), String::new());
    let (applied, rotated) = fleet_db::with_migration_lock(&mut conn, |conn| {
        let applied = fleet_db::run_migrations(conn)?;
        role::ensure(conn, role, &db.dbname, &master.username)?;
        let rotated = rotation::reconcile(conn, store, &target, role, rotate)?;
        Ok::<_, MigrateError>((applied, rotated))
    })?;
    tracing::info!(?applied, role, rotated, "migrated");
    Ok(Outcome { applied, role: role.to_string(), rotated })
}

/// One invocation: the master secret is read now (RDS rotates it), the rest runs blocking.
pub async fn handle(
    settings: &'static Settings,
    client: fleet_aws::aws_sdk_secretsmanager::Client,
    event: Value,
) -> Result<Outcome, Diagnostic> {
    let rotate = wants_rotation(&event)?;
    let master = fleet_aws::fetch_credentials(&client, &settings.db.secret_arn, "DB_MASTER_SECRET_ARN")
        .await
        .map_err(MigrateError::from)?;
    let store = SecretsManager { client, arn: settings.app_secret_arn.clone(), handle: tokio::runtime::Handle::current() };
    tokio::task::spawn_blocking(move || run(settings, &master, &store, rotate))
        .await
        .map_err(|e| Diagnostic { error_type: "Panic".into(), error_message: format!("the migration panicked: {e}") })?
        .map_err(Diagnostic::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    const BASE: [(&str, &str); 4] = [
        ("DB_HOST", "db"),
        ("DB_NAME", "fleet"),
        ("DB_MASTER_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:master"),
        ("DB_APP_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:app"),
    ];

    #[test]
    fn settings() {
        let s = Settings::from_lookup(env(&BASE)).unwrap();
        assert_eq!((s.app_username.as_str(), s.db.secret_arn.as_str()), ("fleet_app", BASE[2].1));
        let e = Settings::from_lookup(env(&BASE[..3])).unwrap_err().to_string();
        assert_eq!(e, "DB_APP_SECRET_ARN is not set: set it in the function's environment (components/rust_lambda.py sets it)");
        let e = Settings::from_lookup(env(&[BASE[0], BASE[1], BASE[3]])).unwrap_err().to_string();
        assert!(e.starts_with("DB_MASTER_SECRET_ARN is not set"), "{e}");
        let mut bad = BASE.to_vec();
        bad.push(("DB_APP_USERNAME", "app; DROP ROLE x"));
        let e = Settings::from_lookup(env(&bad)).unwrap_err().to_string();
        assert!(e.starts_with("DB_APP_USERNAME must be a PostgreSQL role name of 1 to 63 characters"), "{e}");
        assert!(e.ends_with("got \"app; DROP ROLE x\": fix the function's environment"), "{e}");
        let same = [BASE[0], BASE[1], BASE[2], ("DB_APP_SECRET_ARN", BASE[2].1)];
        let e = Settings::from_lookup(env(&same)).unwrap_err().to_string();
        assert!(e.starts_with("DB_APP_SECRET_ARN must be another secret than DB_MASTER_SECRET_ARN"), "{e}");
    }

    #[test]
    fn events() {
        assert!(!wants_rotation(&json!({})).unwrap());
        assert!(!wants_rotation(&json!({"detail-type": "Scheduled Event"})).unwrap());
        assert!(!wants_rotation(&json!([1, 2])).unwrap());
        assert!(!wants_rotation(&json!({"rotate": false})).unwrap());
        assert!(wants_rotation(&json!({"rotate": true})).unwrap());
        let e = wants_rotation(&json!({"rotate": "yes"})).unwrap_err();
        assert_eq!(
            Diagnostic::from(e).error_message,
            "the event's \"rotate\" must be true or false, got \"yes\": invoke with {\"rotate\": true} for a new password, or any other JSON to migrate"
        );
    }
}
