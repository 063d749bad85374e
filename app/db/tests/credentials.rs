//! The pool's credentials against the real test PostgreSQL, which checks passwords for every role
//! but `postgres` (scripts/postgres.sh): a rotated password, a wrong one, TLS verification.

use fleet_db::testing::{TestDb, TestRole, server_ca, terminate_sessions};
use fleet_db::{CredentialCache, Credentials, Fetch, credential_pool, ping};
use diesel::RunQueryDsl;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A stand-in for the secret: what the fetch closure reads, and how often it was read.
struct Store {
    value: Mutex<Credentials>,
    reads: AtomicUsize,
}

impl Store {
    fn new(c: Credentials) -> Arc<Self> {
        Arc::new(Self { value: Mutex::new(c), reads: AtomicUsize::new(0) })
    }

    fn fetch(self: &Arc<Self>) -> Fetch {
        let me = self.clone();
        Arc::new(move || {
            me.reads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![me.value.lock().unwrap().clone()])
        })
    }
}

fn alter_password(role: &str, password: &str) {
    let mut admin = fleet_db::connect(&fleet_db::testing::admin_url()).unwrap();
    diesel::sql_query(format!("ALTER ROLE {role} PASSWORD '{}'", password.replace('\'', "''"))).execute(&mut admin).unwrap();
}

#[test]
fn the_pool_follows_a_rotated_password_at_once_and_fixed_credentials_do_not() {
    let role = TestRole::new("fleet_rot", "");
    let db = TestDb::new();
    let old = Credentials::new(&role.name, &role.password);
    let store = Store::new(old.clone());
    let cache = Arc::new(CredentialCache::refreshing(old.clone(), store.fetch(), Duration::from_secs(60)));
    let timeout = Duration::from_secs(30);
    let pool = credential_pool(db.conninfo("", ""), cache.clone(), 1, timeout);
    let fixed = credential_pool(db.conninfo("", ""), Arc::new(CredentialCache::fixed(old)), 1, Duration::from_secs(3));
    ping(&mut pool.get().unwrap()).unwrap();
    ping(&mut fixed.get().unwrap()).unwrap();
    assert_eq!(store.reads.load(Ordering::SeqCst), 0, "no re-read while the password works");

    // Rotation: the database and the secret get the new password; open sessions end.
    alter_password(&role.name, "n3w-p4ss'word");
    *store.value.lock().unwrap() = Credentials::new(&role.name, "n3w-p4ss'word");
    assert!(terminate_sessions(&role.name) >= 2);

    let start = Instant::now();
    let mut conn = pool.get().expect("the pool reconnects with the re-read password");
    ping(&mut conn).unwrap();
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?} of the pool's {timeout:?}", start.elapsed());
    assert_eq!(store.reads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.current().password, "n3w-p4ss'word");

    // The old behaviour (credentials read once): the same rotation breaks the pool.
    let e = fixed.get().map(|_| ()).map_err(fleet_db::DbError::from).unwrap_err().to_string();
    assert!(e.contains("password authentication failed"), "{e}");
}

#[test]
fn a_password_wrong_everywhere_reads_the_secret_once_per_interval() {
    let role = TestRole::new("fleet_bad", "");
    let db = TestDb::new();
    let wrong = Credentials::new(&role.name, "not-the-password");
    let store = Store::new(wrong.clone());
    let cache = Arc::new(CredentialCache::refreshing(wrong, store.fetch(), Duration::from_secs(60)));
    let pool = credential_pool(db.conninfo("", ""), cache, 1, Duration::from_secs(3));
    for _ in 0..3 {
        let e = pool.get().map(|_| ()).map_err(fleet_db::DbError::from).unwrap_err().to_string();
        assert!(e.contains("password authentication failed"), "{e}");
    }
    // r2d2 retried the connection many times over 9 s; the secret was read once.
    assert_eq!(store.reads.load(Ordering::SeqCst), 1);
}

#[test]
fn a_failing_reread_is_reported_with_the_refusal() {
    let role = TestRole::new("fleet_gone", "");
    let db = TestDb::new();
    let fetch: Fetch = Arc::new(|| Err("reading the database secret arn:x failed: AccessDenied".to_string()));
    let cache = Arc::new(CredentialCache::refreshing(Credentials::new(&role.name, "wrong"), fetch, Duration::from_secs(60)));
    let e = fleet_db::credentials::connect_with(&db.conninfo("", ""), &cache).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(e.contains("re-reading the credentials failed too: reading the database secret arn:x failed: AccessDenied"), "{e}");
}

#[test]
fn verify_full_accepts_the_test_ca_and_refuses_the_rds_bundle() {
    let ca = server_ca().expect("the test PostgreSQL serves TLS: restart it with `scripts/postgres.sh start`");
    let db = TestDb::new();
    let mut info = db.conninfo("postgres", "");
    info.sslmode = "verify-full".into();
    info.sslrootcert = Some(ca);
    let mut conn = fleet_db::connect(&info.to_conninfo()).expect("verify-full with the CA that signed the server");
    #[derive(diesel::QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").get_result(&mut conn).unwrap();
    assert!(row.ssl, "the session is encrypted");

    info.sslrootcert = Some(format!("{}/../../build/certs/rds-ca-bundle.pem", env!("CARGO_MANIFEST_DIR")));
    let e = fleet_db::connect(&info.to_conninfo()).err().expect("the RDS CAs did not sign the test server").to_string();
    assert!(e.contains("certificate verify failed"), "{e}");
}
