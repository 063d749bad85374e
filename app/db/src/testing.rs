//! Test helpers (feature `testing`): a throw-away database per test, created from
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:55432/postgres`, started by
//! `scripts/postgres.sh start`), migrated, and dropped when the guard goes out of scope.

use crate::{DbError, PgConnection, Pool, connect, migrate, pool};
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

impl TestDb {
    /// Creates and migrates the database. Panics with the command to run when PostgreSQL is not
    /// reachable (tests must fail, not skip, without it).
    pub fn new() -> Self {
        let admin = admin_url();
        let mut conn = connect(&admin).unwrap_or_else(|e| {
            panic!("test PostgreSQL at {admin} (TEST_DATABASE_URL) is not reachable: {e}; run `scripts/postgres.sh start`")
        });
        let name = format!("fleet_test_{}_{:08x}", std::process::id(), rand::rng().random::<u32>());
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("CREATE DATABASE");
        let url = with_dbname(&admin, &name);
        let db = Self { admin, name, url };
        migrate(&mut db.conn()).expect("migrations apply to an empty database");
        db
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

/// A pool pointing at a port where nothing listens: "the database is down".
pub fn unreachable_pool() -> Pool {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    pool(&format!("postgres://postgres@127.0.0.1:{port}/none?connect_timeout=2"), 1, Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_dbname() {
        assert_eq!(with_dbname("postgres://u@h:1/postgres", "x"), "postgres://u@h:1/x");
        assert_eq!(with_dbname("postgres://u@h:1/postgres?sslmode=disable", "x"), "postgres://u@h:1/x?sslmode=disable");
        assert_eq!(with_dbname("postgres://u@h:1", "x"), "postgres://u@h:1/x");
    }
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
