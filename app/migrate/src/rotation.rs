//! The runtime role's password, kept in the app secret the way Secrets Manager rotates (the
//! four steps of its rotation functions: create, set, test, finish):
//!
//! 1. `PutSecretValue` of a new version labelled `AWSPENDING` (the old one stays `AWSCURRENT`);
//! 2. `ALTER ROLE ... PASSWORD` in PostgreSQL;
//! 3. a login with the new password;
//! 4. `UpdateSecretVersionStage`: `AWSCURRENT` moves to the new version, `AWSPENDING` leaves it.
//!
//! Between 2 and 4 the runtime processes, refused with the old password, find the new one under
//! `AWSPENDING` (`fleet_aws::fetch_candidates`). A run that stopped between 1 and 4 leaves an
//! `AWSPENDING` version that is not `AWSCURRENT`; the next run completes that rotation (steps 2
//! to 4 are idempotent) instead of starting another.

use crate::MigrateError;
use crate::role::set_password;
use fleet_aws::{AWSCURRENT, AWSPENDING, SecretError, SecretVersion};
use fleet_db::{ConnInfo, Credentials, PgConnection};
use rand::Rng;

/// The app secret, as the rotation uses it. Blocking (the migrate function runs the whole
/// reconciliation on a blocking thread, holding the migration lock).
pub trait SecretStore {
    /// The version labelled `stage`, or None.
    fn get(&self, stage: &str) -> Result<Option<SecretVersion>, SecretError>;
    /// A new version labelled only `AWSPENDING` (`token`: the idempotency token); its version id.
    fn put_pending(&self, token: &str, text: &str) -> Result<String, SecretError>;
    /// Moves `stage` to `to`, off `from` (required by Secrets Manager when another version has it).
    fn move_stage(&self, stage: &str, to: &str, from: Option<&str>) -> Result<(), SecretError>;
    /// Removes `stage` from the version `from`.
    fn remove_stage(&self, stage: &str, from: &str) -> Result<(), SecretError>;
}

/// The secret's value: what the runtime processes read (`username`, `password`) and the
/// endpoint, in the shape of an RDS-managed secret.
pub fn secret_text(target: &ConnInfo, role: &str, password: &str) -> String {
    serde_json::json!({
        "username": role,
        "password": password,
        "engine": "postgres",
        "host": target.host,
        "port": target.port,
        "dbname": target.dbname,
    })
    .to_string()
}

/// A new password: 32 characters of A-Z, a-z, 0-9 from the thread's CSPRNG (ChaCha, seeded by
/// the OS), about 190 bits.
pub fn new_password() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(32).map(char::from).collect()
}

/// A `ClientRequestToken` (32 to 64 characters): 32 random hex digits.
fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Does `password` let `role` log in to `target`? Ok(false) when PostgreSQL refuses it; an
/// error when the server cannot be reached (nothing is rotated on a guess).
pub fn authenticates(target: &ConnInfo, role: &str, password: &str) -> Result<bool, MigrateError> {
    let mut info = target.clone();
    info.user = role.to_string();
    info.password = password.to_string();
    match fleet_db::connect(&info.to_conninfo()) {
        Ok(_) => Ok(true),
        Err(e) if fleet_db::credentials::is_auth_failure(&e.to_string()) => Ok(false),
        Err(e) => Err(MigrateError::Database(format!("logging in as the runtime role {role} to check its password failed: {e}"))),
    }
}

/// The role's credentials in a version of the secret, when it holds them.
fn credentials_of(version: &SecretVersion, role: &str) -> Option<Credentials> {
    let c = fleet_aws::parse_secret("", "DB_APP_SECRET_ARN", &version.text).ok()?;
    (c.username == role).then_some(c)
}

/// Makes the secret and the role's password agree; `rotate` forces a new password. Returns
/// whether the password changed.
pub fn reconcile(
    conn: &mut PgConnection,
    store: &dyn SecretStore,
    target: &ConnInfo,
    role: &str,
    rotate: bool,
) -> Result<bool, MigrateError> {
    let current = store.get(AWSCURRENT)?;
    let pending = store.get(AWSPENDING)?.filter(|p| !p.stages.iter().any(|s| s == AWSCURRENT));
    if let Some(pending) = pending {
        match credentials_of(&pending, role) {
            Some(c) => {
                tracing::warn!(version = %pending.version_id, "completing an interrupted rotation of the app secret");
                finish(conn, store, target, role, &c.password, &pending.version_id)?;
                return Ok(true);
            }
            // Not a value this function wrote: the new version below takes the label over.
            None => tracing::warn!(version = %pending.version_id, "ignoring an AWSPENDING version that holds no password for {role}"),
        }
    }
    let reason = match current.as_ref().map(|v| (v, credentials_of(v, role))) {
        _ if rotate => "rotation requested",
        None => "the app secret has no value yet",
        Some((_, None)) => "the app secret's value holds no password for the runtime role",
        Some((_, Some(c))) if !authenticates(target, role, &c.password)? => "PostgreSQL refuses the app secret's password",
        Some(_) => return Ok(false),
    };
    tracing::info!(role, reason, "rotating the runtime role's password");
    let password = new_password();
    let version = store.put_pending(&new_token(), &secret_text(target, role, &password))?;
    finish(conn, store, target, role, &password, &version)?;
    Ok(true)
}

/// Steps 2 to 4 for the version `version` holding `password`.
fn finish(
    conn: &mut PgConnection,
    store: &dyn SecretStore,
    target: &ConnInfo,
    role: &str,
    password: &str,
    version: &str,
) -> Result<(), MigrateError> {
    set_password(conn, role, password)?;
    if !authenticates(target, role, password)? {
        return Err(MigrateError::Rotation(format!(
            "the runtime role {role} cannot log in to {}:{}/{} with the password just set: check pg_hba.conf (RDS: the parameter group) allows password logins, then invoke migrate again, which completes this rotation",
            target.host, target.port, target.dbname
        )));
    }
    // Re-read: the first version of a secret gets AWSCURRENT on creation whatever it asked for.
    let current = store.get(AWSCURRENT)?;
    let from = current.as_ref().map(|c| c.version_id.as_str());
    if from != Some(version) {
        store.move_stage(AWSCURRENT, version, from)?;
    }
    store.remove_stage(AWSPENDING, version)?;
    tracing::info!(role, version, "the app secret's AWSCURRENT holds the new password");
    Ok(())
}

/// [`SecretStore`] on Secrets Manager through the SDK, driven from a blocking thread.
pub struct SecretsManager {
    pub client: fleet_aws::aws_sdk_secretsmanager::Client,
    pub arn: String,
    /// The Tokio runtime the SDK's client runs on; its `block_on` is called from
    /// `spawn_blocking` threads only (never from a runtime thread, where it would panic).
    pub handle: tokio::runtime::Handle,
}

const VARIABLE: &str = "DB_APP_SECRET_ARN";

fn failed<'a, E, R>(arn: &'a str, operation: &'static str) -> impl FnOnce(fleet_aws::aws_sdk_secretsmanager::error::SdkError<E, R>) -> SecretError + 'a
where
    E: fleet_aws::aws_sdk_secretsmanager::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| SecretError::new(arn, VARIABLE, operation, fleet_aws::sdk_error_text(&e))
}

impl SecretStore for SecretsManager {
    fn get(&self, stage: &str) -> Result<Option<SecretVersion>, SecretError> {
        self.handle.block_on(fleet_aws::get_version(&self.client, &self.arn, VARIABLE, stage))
    }

    fn put_pending(&self, token: &str, text: &str) -> Result<String, SecretError> {
        let call = self.client.put_secret_value().secret_id(&self.arn).client_request_token(token).secret_string(text).version_stages(AWSPENDING);
        let out = self.handle.block_on(call.send()).map_err(failed(&self.arn, "PutSecretValue"))?;
        Ok(out.version_id().unwrap_or(token).to_string())
    }

    fn move_stage(&self, stage: &str, to: &str, from: Option<&str>) -> Result<(), SecretError> {
        let call = self.client.update_secret_version_stage().secret_id(&self.arn).version_stage(stage).move_to_version_id(to).set_remove_from_version_id(from.map(str::to_string));
        self.handle.block_on(call.send()).map_err(failed(&self.arn, "UpdateSecretVersionStage"))?;
        Ok(())
    }

    fn remove_stage(&self, stage: &str, from: &str) -> Result<(), SecretError> {
        let call = self.client.update_secret_version_stage().secret_id(&self.arn).version_stage(stage).remove_from_version_id(from);
        self.handle.block_on(call.send()).map_err(failed(&self.arn, "UpdateSecretVersionStage"))?;
        Ok(())
    }
}
