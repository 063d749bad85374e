//! PostgreSQL for the fleet: diesel's `postgres` backend (libpq through pq-sys, linked
//! dynamically), the SQL migrations of `app/db/migrations` embedded in the binary and applied
//! under an advisory lock, and the queries the entry points need.
//!
//! Diesel is synchronous: async callers run these functions in `tokio::task::spawn_blocking`.

pub mod conninfo;
pub mod credentials;
mod queries;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

pub use conninfo::ConnInfo;
pub use credentials::{CredentialCache, Credentials, Fetch, Manager};
pub use diesel::pg::PgConnection;
pub use queries::*;

use diesel::prelude::*;
use diesel::r2d2::PooledConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use fleet_core::ValidationError;
use std::time::Duration;

/// A pool of libpq connections ([`Manager`]: credentials re-read after a rotation).
pub type Pool = diesel::r2d2::Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

/// The migrations of `app/db/migrations`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The advisory-lock key taken around `migrate` (ASCII "fleetmig"), so concurrent starters
/// (ECS tasks with `MIGRATE_ON_START=true`) apply migrations one at a time.
pub const MIGRATION_LOCK_KEY: i64 = 0x666c_6565_746d_6967;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("applying migrations failed: {0}")]
    Migrate(String),
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Conflict(String),
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<diesel::ConnectionError> for DbError {
    fn from(e: diesel::ConnectionError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Opens one connection (`conninfo`: a libpq keyword/value string or a `postgres://` URL).
pub fn connect(conninfo: &str) -> Result<PgConnection, DbError> {
    Ok(PgConnection::establish(conninfo)?)
}

/// A pool with one fixed libpq string or URL (tests, local tools). It connects lazily: building
/// it never fails or blocks, so a process starts while the database is down and `get()` reports
/// `Unavailable` after `timeout`.
pub fn pool(conninfo: &str, max_size: u32, timeout: Duration) -> Pool {
    pool_of(Manager::fixed(conninfo), max_size, timeout)
}

/// A lazily connecting pool to `info` with `credentials` (re-read after an authentication
/// failure when the cache was built with a fetch; see [`credentials`]).
pub fn credential_pool(info: ConnInfo, credentials: std::sync::Arc<CredentialCache>, max_size: u32, timeout: Duration) -> Pool {
    pool_of(Manager::with_credentials(info, credentials), max_size, timeout)
}

fn pool_of(manager: Manager, max_size: u32, timeout: Duration) -> Pool {
    diesel::r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(timeout)
        .test_on_check_out(true)
        .build_unchecked(manager)
}

/// Runs `f` holding the session advisory lock [`MIGRATION_LOCK_KEY`], so concurrent migrators
/// (ECS tasks with `MIGRATE_ON_START=true`, the migrate function) take turns. The lock is
/// released whether `f` succeeds or not.
pub fn with_migration_lock<T, E: From<DbError>>(
    conn: &mut PgConnection,
    f: impl FnOnce(&mut PgConnection) -> Result<T, E>,
) -> Result<T, E> {
    use diesel::sql_types::BigInt;
    let lock = |conn: &mut PgConnection, sql: &str| {
        diesel::sql_query(sql).bind::<BigInt, _>(MIGRATION_LOCK_KEY).execute(conn).map(|_| ()).map_err(|e| E::from(DbError::from(e)))
    };
    lock(conn, "SELECT pg_advisory_lock($1)")?;
    let out = f(conn);
    let unlocked = lock(conn, "SELECT pg_advisory_unlock($1)");
    let out = out?;
    unlocked?;
    Ok(out)
}

/// Applies pending migrations (no lock taken: see [`migrate`]); returns the versions applied.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    conn.run_pending_migrations(MIGRATIONS)
        .map(|v| v.iter().map(|m| m.to_string()).collect())
        .map_err(|e| DbError::Migrate(e.to_string()))
}

/// Applies pending migrations under the advisory lock; returns the versions applied.
pub fn migrate(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    with_migration_lock(conn, run_migrations)
}

/// `SELECT 1`: is the database reachable and answering?
pub fn ping(conn: &mut PgConnection) -> Result<(), DbError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}
