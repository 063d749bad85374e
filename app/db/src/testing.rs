//! Test helpers (feature `testing`): a throw-away database per test, created from
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:55432/postgres`, started by
//! `scripts/postgres.sh start`), migrated, and dropped when the guard goes out of scope.

use crate::{ConnInfo, DbError, PgConnection, Pool, connect, migrate, pool};
use diesel::RunQueryDsl;
use rand::Rng;
use std::time::Duration;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:55432/postgres";

/// The server URL tests use.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// `url` with its database name replaced.
pub fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A fresh, migrated database, dropped (with its connections) on drop.
pub struct TestDb {
    admin: String,
    name: String,
    url: String,
}

fn admin_conn(admin: &str) -> PgConnection {
    connect(admin).unwrap_or_else(|e| {
        panic!("test PostgreSQL at {admin} (TEST_DATABASE_URL) is not reachable: {e}; run `scripts/postgres.sh start`")
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{:08x}", std::process::id(), rand::rng().random::<u32>())
}

impl TestDb {
    /// Creates and migrates the database. Panics with the command to run when PostgreSQL is not
    /// reachable (tests must fail, not skip, without it).
    pub fn new() -> Self {
        let db = Self::empty(None);
        migrate(&mut db.conn()).expect("migrations apply to an empty database");
        db
    }

    /// An empty database (no migrations), owned by `owner` when given (as RDS makes the master
    /// user the owner of the database it creates).
    pub fn empty(owner: Option<&str>) -> Self {
        let admin = admin_url();
        let mut conn = admin_conn(&admin);
        let name = unique("fleet_test");
        let owner = owner.map(|o| format!(" OWNER {o}")).unwrap_or_default();
        diesel::sql_query(format!("CREATE DATABASE {name}{owner}")).execute(&mut conn).expect("CREATE DATABASE");
        let url = with_dbname(&admin, &name);
        Self { admin, name, url }
    }

    /// The host and port of the test server.
    pub fn host_port(&self) -> (String, u16) {
        host_port(&self.admin)
    }

    /// A keyword/value connection to this database as `user`/`password` (sslmode `prefer`).
    pub fn conninfo(&self, user: &str, password: &str) -> ConnInfo {
        let (host, port) = self.host_port();
        ConnInfo {
            host,
            port,
            dbname: self.name.clone(),
            user: user.into(),
            password: password.into(),
            sslmode: "prefer".into(),
            sslrootcert: None,
            connect_timeout_s: 5,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn conn(&self) -> PgConnection {
        connect(&self.url).expect("connect to the test database")
    }

    pub fn pool(&self) -> Pool {
        pool(&self.url, 4, Duration::from_secs(5))
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let dropped = connect(&self.admin).and_then(|mut c| {
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut c)
                .map_err(DbError::from)
        });
        if let Err(e) = dropped {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// The host and port of a `postgres://user@host:port/db` URL (port 5432 when absent).
pub fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().expect("a port number in TEST_DATABASE_URL")),
        None => (hostport.to_string(), 5432),
    }
}

/// A login role with a password (PostgreSQL checks it: scripts/postgres.sh requires
/// scram-sha-256 for every role but `postgres`), dropped on drop. Declare it before the
/// [`TestDb`]s it is used in, so it is dropped after them.
pub struct TestRole {
    admin: String,
    pub name: String,
    pub password: String,
}

impl TestRole {
    /// `CREATE ROLE <unique name> LOGIN PASSWORD '<random>' <attributes>` (no LOGIN when the
    /// attributes say NOLOGIN).
    pub fn new(prefix: &str, attributes: &str) -> Self {
        let admin = admin_url();
        let name = unique(prefix);
        let password: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(24).map(char::from).collect();
        let login = if attributes.contains("NOLOGIN") { "" } else { "LOGIN " };
        diesel::sql_query(format!("CREATE ROLE {name} {login}PASSWORD '{password}' {attributes}"))
            .execute(&mut admin_conn(&admin))
            .expect("CREATE ROLE");
        Self { admin, name, password }
    }

    /// A name for a role the test itself creates (or has created), dropped on drop.
    pub fn reserve(prefix: &str) -> Self {
        Self { admin: admin_url(), name: unique(prefix), password: String::new() }
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let dropped = connect(&self.admin).and_then(|mut c| {
            diesel::sql_query(format!("DROP ROLE IF EXISTS {}", self.name)).execute(&mut c).map_err(DbError::from)
        });
        if let Err(e) = dropped {
            eprintln!("warning: could not drop test role {}: {e}", self.name);
        }
    }
}

/// Ends every session of `role` (`pg_terminate_backend`), as a failover or an idle timeout
/// would: pooled connections break and the pool must reconnect. Returns how many were ended.
pub fn terminate_sessions(role: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n: Count = diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE usename = $1",
    )
    .bind::<diesel::sql_types::Text, _>(role)
    .get_result(&mut admin_conn(&admin_url()))
    .expect("pg_terminate_backend");
    n.n
}

/// The CA that signed the test server's certificate: `ca.crt` next to its `ssl_cert_file`
/// (scripts/postgres.sh makes both), or None when the server has TLS off.
pub fn server_ca() -> Option<String> {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        ssl: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        cert: String,
    }
    let s: Setting = diesel::sql_query("SELECT current_setting('ssl') AS ssl, current_setting('ssl_cert_file') AS cert")
        .get_result(&mut admin_conn(&admin_url()))
        .expect("read the server's TLS settings");
    let ca = std::path::Path::new(&s.cert).with_file_name("ca.crt");
    (s.ssl == "on" && ca.is_file()).then(|| ca.display().to_string())
}

/// A pool pointing at a port where nothing listens: "the database is down".
pub fn unreachable_pool() -> Pool {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    pool(&format!("postgres://postgres@127.0.0.1:{port}/none?connect_timeout=2"), 1, Duration::from_secs(2))
}


/// Stores a token with a known value (the sample events' tokens), optionally expired or revoked.
pub fn insert_token(
    conn: &mut PgConnection,
    token: &str,
    owner: &str,
    scopes: &[&str],
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
) {
    use crate::schema::api_tokens;
    use diesel::ExpressionMethods;
    let parsed = fleet_core::token::parse(token).expect("a well-formed token");
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(parsed.id()),
            api_tokens::token_sha256.eq(parsed.sha256()),
            api_tokens::owner.eq(owner),
            api_tokens::scopes.eq(scopes),
            api_tokens::expires_at.eq(expires_at),
            api_tokens::revoked_at.eq(revoked_at),
        ))
        .execute(conn)
        .expect("insert token");
}

/// Secret of the sample events' tokens (`app/events/`): `roa_<id>_<SAMPLE_SECRET>`.
pub const SAMPLE_SECRET: &str = "S3cretS3cretS3cretS3cretS3cretS3cretS3cr";

/// The fixture the sample events assume: tokens `sample000001` (alice, every scope),
/// `revoked00001`, `expired00001`; alice's device `sensor-1`; mallory's device `sensor-m`.
pub fn seed_samples(conn: &mut PgConnection) {
    use chrono::{Duration, Utc};
    let all = ["devices:read", "devices:write", "commands:read", "commands:write", "images:read"];
    let t = |id: &str| format!("roa_{id}_{SAMPLE_SECRET}");
    let now = Utc::now();
    insert_token(conn, &t("sample000001"), "alice@example.com", &all, Some(now + Duration::days(30)), None);
    insert_token(conn, &t("revoked00001"), "alice@example.com", &all, None, Some(now - Duration::hours(1)));
    insert_token(conn, &t("expired00001"), "alice@example.com", &all, Some(now - Duration::hours(1)), None);
    let dev = |id: &str, name: &str| fleet_core::model::CreateDevice { id: id.into(), name: name.into() };
    crate::create_device(conn, "alice@example.com", &dev("sensor-1", "Kitchen sensor")).expect("seed sensor-1");
    crate::create_device(conn, "mallory@example.com", &dev("sensor-m", "Mallory's")).expect("seed sensor-m");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_a_url() {
        assert_eq!(host_port("postgres://postgres@127.0.0.1:55433/postgres"), ("127.0.0.1".to_string(), 55433));
        assert_eq!(host_port("postgres://u:p@db.example/x?sslmode=disable"), ("db.example".to_string(), 5432));
    }

    #[test]
    fn replaces_dbname() {
        assert_eq!(with_dbname("postgres://u@h:1/postgres", "x"), "postgres://u@h:1/x");
        assert_eq!(with_dbname("postgres://u@h:1/postgres?sslmode=disable", "x"), "postgres://u@h:1/x?sslmode=disable");
        assert_eq!(with_dbname("postgres://u@h:1", "x"), "postgres://u@h:1/x");
    }
}
