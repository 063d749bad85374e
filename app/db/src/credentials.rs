//! Database credentials that may change under a running process, and the r2d2 connection
//! manager that follows them.
//!
//! Secrets Manager rotates the runtime role's password (the `migrate` function does it, in two
//! phases). A process that read the secret once at start would fail every new connection after
//! that. [`Manager`] holds the credentials behind a lock and, when PostgreSQL refuses them
//! (SQLSTATE 28P01, "password authentication failed"), calls a fetch closure (the caller's:
//! `fleet-aws` re-reads the secret) and retries at once with what it returns, inside the same
//! `connect`: a rotated password costs one extra connection attempt, not the pool's timeout.
//!
//! Re-reads are rate-limited ([`REFRESH_INTERVAL`]): a password that is wrong everywhere (secret
//! and database disagree) makes at most one secret read per interval, however many connection
//! attempts r2d2 makes, and concurrent connects share one read.

use crate::ConnInfo;
use diesel::r2d2::{Error, ManageConnection, R2D2Connection};
use diesel::{Connection, ConnectionError, PgConnection};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// At most one re-read of the credentials per this interval.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// A user name and password. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self { username: username.into(), password: password.into() }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"***").finish()
    }
}

/// Re-reads the credentials: the candidates to try, best first (e.g. the secret's `AWSCURRENT`
/// version, then `AWSPENDING` while a rotation is under way). Blocking; called from r2d2's
/// connection threads.
pub type Fetch = Arc<dyn Fn() -> Result<Vec<Credentials>, String> + Send + Sync>;

/// Is this libpq connection error PostgreSQL refusing the password (SQLSTATE 28P01)?
///
/// libpq reports a failed connection as text only (`PQerrorMessage`); the server's message for
/// 28P01 is `password authentication failed for user "..."` (also when the role does not exist,
/// which PostgreSQL does not reveal).
pub fn is_auth_failure(message: &str) -> bool {
    message.contains("password authentication failed") || message.contains("28P01")
}

/// The credentials a pool connects with, and how to re-read them.
pub struct CredentialCache {
    current: RwLock<Credentials>,
    fetch: Option<Fetch>,
    min_interval: Duration,
    last_fetch: Mutex<Option<Instant>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("current", &self.current())
            .field("refreshing", &self.fetch.is_some())
            .field("min_interval", &self.min_interval)
            .finish()
    }
}

impl CredentialCache {
    /// Credentials that never change (`DB_USERNAME`/`DB_PASSWORD`, a local run).
    pub fn fixed(credentials: Credentials) -> Self {
        Self::build(credentials, None, REFRESH_INTERVAL)
    }

    /// Credentials re-read through `fetch` after an authentication failure, at most once per
    /// `min_interval`.
    pub fn refreshing(initial: Credentials, fetch: Fetch, min_interval: Duration) -> Self {
        Self::build(initial, Some(fetch), min_interval)
    }

    fn build(current: Credentials, fetch: Option<Fetch>, min_interval: Duration) -> Self {
        Self {
            current: RwLock::new(current),
            fetch,
            min_interval,
            last_fetch: Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn current(&self) -> Credentials {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, credentials: Credentials) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = credentials;
    }

    /// How many times the credentials were re-read.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// After `failed` was refused: the candidates to try next. Empty when re-reading is not
    /// possible (fixed credentials) or not allowed yet (rate limit).
    fn candidates_after(&self, failed: &Credentials) -> Result<Vec<Credentials>, String> {
        let Some(fetch) = &self.fetch else { return Ok(Vec::new()) };
        // One re-read at a time: a connect that waited here while another re-read finds the
        // new credentials already in place.
        let mut last = self.last_fetch.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.current();
        if current != *failed {
            return Ok(vec![current]);
        }
        if let Some(at) = *last
            && at.elapsed() < self.min_interval
        {
            tracing::debug!(user = %failed.username, "credentials re-read less than {:?} ago; not re-reading", self.min_interval);
            return Ok(Vec::new());
        }
        *last = Some(Instant::now());
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(user = %failed.username, "the database refused the password; re-reading the credentials");
        let mut found = fetch()?;
        found.dedup();
        found.retain(|c| c != failed);
        Ok(found)
    }
}

/// What a [`Manager`] connects to.
enum Target {
    /// A complete libpq string or URL (tests, local tools): nothing to refresh.
    Fixed(String),
    /// Host, port, database and TLS settings; the user and password come from the cache.
    Parts { info: ConnInfo, credentials: Arc<CredentialCache> },
}

/// r2d2's connection manager for libpq connections whose credentials may be re-read.
pub struct Manager {
    target: Target,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Fixed(_) => f.write_str("Manager(fixed conninfo)"),
            Target::Parts { info, credentials } => {
                f.debug_struct("Manager").field("info", info).field("credentials", credentials).finish()
            }
        }
    }
}

impl Manager {
    /// Connects with one libpq string or `postgres://` URL.
    pub fn fixed(conninfo: impl Into<String>) -> Self {
        Self { target: Target::Fixed(conninfo.into()) }
    }

    /// Connects to `info` (its `user` and `password` are ignored) with `credentials`.
    pub fn with_credentials(info: ConnInfo, credentials: Arc<CredentialCache>) -> Self {
        Self { target: Target::Parts { info, credentials } }
    }
}

fn establish(info: &ConnInfo, c: &Credentials) -> Result<PgConnection, ConnectionError> {
    let mut info = info.clone();
    info.user.clone_from(&c.username);
    info.password.clone_from(&c.password);
    PgConnection::establish(&info.to_conninfo())
}

/// Connects with the cached credentials; on an authentication failure re-reads them (rate
/// limited) and tries what the re-read gives, keeping the first that works.
pub fn connect_with(info: &ConnInfo, credentials: &CredentialCache) -> Result<PgConnection, ConnectionError> {
    let first = credentials.current();
    let refused = match establish(info, &first) {
        Err(ConnectionError::BadConnection(message)) if is_auth_failure(&message) => message,
        other => return other,
    };
    let candidates = credentials.candidates_after(&first).map_err(|e| {
        ConnectionError::BadConnection(format!(
            "{}; re-reading the credentials failed too: {e}",
            refused.trim_end()
        ))
    })?;
    let mut last = refused;
    for candidate in candidates {
        match establish(info, &candidate) {
            Ok(conn) => {
                tracing::info!(user = %candidate.username, "connected with the re-read credentials");
                credentials.set(candidate);
                return Ok(conn);
            }
            Err(ConnectionError::BadConnection(message)) if is_auth_failure(&message) => last = message,
            Err(other) => return Err(other),
        }
    }
    Err(ConnectionError::BadConnection(last))
}

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = Error;

    fn connect(&self) -> Result<PgConnection, Error> {
        match &self.target {
            Target::Fixed(conninfo) => PgConnection::establish(conninfo),
            Target::Parts { info, credentials } => connect_with(info, credentials),
        }
        .map_err(Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Error> {
        conn.ping().map_err(Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(result: Vec<Credentials>) -> (Fetch, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        (Arc::new(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(result.clone())
        }), calls)
    }

    #[test]
    fn auth_failure_is_recognised_from_libpq_text() {
        let refused = "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed for user \"fleet_app\"\n";
        assert!(is_auth_failure(refused));
        assert!(!is_auth_failure("connection to server at \"127.0.0.1\", port 5432 failed: Connection refused"));
        assert!(!is_auth_failure("FATAL:  no pg_hba.conf entry for host \"10.0.0.1\", user \"app\""));
    }

    #[test]
    fn rereads_at_most_once_per_interval_and_drops_the_refused_value() {
        let old = Credentials::new("app", "old");
        let (fetch, calls) = counting(vec![old.clone(), Credentials::new("app", "new"), Credentials::new("app", "new")]);
        let cache = CredentialCache::refreshing(old.clone(), fetch, Duration::from_secs(60));
        assert_eq!(cache.candidates_after(&old).unwrap(), vec![Credentials::new("app", "new")]);
        assert_eq!(cache.candidates_after(&old).unwrap(), vec![], "rate limited");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.fetch_count(), 1);
    }

    #[test]
    fn a_connect_that_waited_takes_what_another_reread_found() {
        let old = Credentials::new("app", "old");
        let (fetch, calls) = counting(vec![]);
        let cache = CredentialCache::refreshing(old.clone(), fetch, Duration::from_secs(60));
        cache.set(Credentials::new("app", "newer"));
        assert_eq!(cache.candidates_after(&old).unwrap(), vec![Credentials::new("app", "newer")]);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn fixed_credentials_never_reread_and_hide_the_password() {
        let c = Credentials::new("app", "s3cret");
        let cache = CredentialCache::fixed(c.clone());
        assert!(cache.candidates_after(&c).unwrap().is_empty());
        assert!(!format!("{cache:?}").contains("s3cret"));
    }
}
