//! The migrate function's work against the real test PostgreSQL and moto's Secrets Manager.
//!
//! The master is what RDS gives: a role with CREATEROLE (not a superuser) that owns the
//! database. PostgreSQL checks every password but the `postgres` superuser's
//! (scripts/postgres.sh), so "the runtime role can log in" is the server's verdict. The
//! expected values are read back from PostgreSQL (pg_roles, a login) and from moto (the secret's
//! versions), never from what the code under test returned.

use fleet_aws::aws_sdk_secretsmanager::Client;
use fleet_aws::testing::Moto;
use fleet_db::testing::{TestDb, TestRole};
use fleet_db::{ConnInfo, Credentials};
use fleet_lambda::DbSettings;
use fleet_migrate::{MigrateError, Outcome, SecretsManager, Settings, run};
use diesel::RunQueryDsl;
use serde_json::Value;

struct Fixture {
    rt: tokio::runtime::Runtime,
    client: Client,
    settings: Settings,
    master: Credentials,
    db: TestDb,
    _moto: Moto,
}

impl Fixture {
    /// `master`: an RDS-like master role; `app`: the name for the runtime role.
    fn new(master: &TestRole, app: &TestRole) -> Self {
        let moto = Moto::start();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = Client::new(&moto.sdk());
        let app_secret = rt.block_on(client.create_secret().name(format!("app-{}", app.name)).send()).unwrap();
        let db = TestDb::empty(Some(&master.name));
        let (host, port) = db.host_port();
        let settings = Settings {
            db: DbSettings {
                host,
                port,
                dbname: db.name().into(),
                sslmode: "prefer".into(),
                sslrootcert: None,
                secret_arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master".into(),
            },
            app_secret_arn: app_secret.arn().unwrap().into(),
            app_username: app.name.clone(),
        };
        Self { rt, client, settings, master: Credentials::new(&master.name, &master.password), db, _moto: moto }
    }

    fn store(&self) -> SecretsManager {
        SecretsManager { client: self.client.clone(), arn: self.settings.app_secret_arn.clone(), handle: self.rt.handle().clone() }
    }

    fn run(&self, rotate: bool) -> Result<Outcome, MigrateError> {
        run(&self.settings, &self.master, &self.store(), rotate)
    }

    /// The secret's version labelled `stage` as moto holds it: (version id, value).
    fn version(&self, stage: &str) -> Option<(String, Value)> {
        let out = self.rt.block_on(self.client.get_secret_value().secret_id(&self.settings.app_secret_arn).version_stage(stage).send()).ok()?;
        Some((out.version_id().unwrap().into(), serde_json::from_str(out.secret_string().unwrap()).unwrap()))
    }

    fn app_password(&self) -> String {
        let (_, v) = self.version("AWSCURRENT").expect("the app secret has an AWSCURRENT version");
        v["password"].as_str().unwrap().to_string()
    }

    fn app_info(&self, password: &str) -> ConnInfo {
        self.db.conninfo(&self.settings.app_username, password)
    }

    fn logs_in(&self, password: &str) -> bool {
        fleet_db::connect(&self.app_info(password).to_conninfo()).is_ok()
    }

    /// One statement as the runtime role; the error text when PostgreSQL refuses it.
    fn as_app(&self, sql: &str) -> Result<(), String> {
        let mut c = fleet_db::connect(&self.app_info(&self.app_password()).to_conninfo()).map_err(|e| e.to_string())?;
        diesel::sql_query(sql).execute(&mut c).map(|_| ()).map_err(|e| e.to_string())
    }

    fn admin(&self, sql: &str) {
        diesel::connection::SimpleConnection::batch_execute(&mut self.db.conn(), sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[test]
fn first_run_migrates_creates_the_role_and_its_secret_then_is_idempotent_and_rotates() {
    let master = TestRole::new("fleet_master", "CREATEROLE");
    let app = TestRole::reserve("fleet_app");
    let f = Fixture::new(&master, &app);
    assert!(f.version("AWSCURRENT").is_none(), "the app secret starts without a value");

    let out = f.run(false).unwrap();
    assert_eq!((out.applied.len(), out.role.as_str(), out.rotated), (1, app.name.as_str(), true), "{out:?}");
    let (first_version, value) = f.version("AWSCURRENT").unwrap();
    assert_eq!(value["username"], app.name.as_str());
    assert_eq!((value["engine"].as_str(), value["dbname"].as_str()), (Some("postgres"), Some(f.db.name())));
    assert_eq!(value["port"], f.settings.db.port);
    assert!(f.version("AWSPENDING").is_none(), "AWSPENDING left the finished version");
    let password = f.app_password();
    assert!(password.len() >= 32 && password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(f.logs_in(&password), "PostgreSQL accepts the secret's password");
    f.as_app("INSERT INTO devices (id, owner, name) VALUES ('d1', 'o', 'n')").unwrap();
    let e = f.as_app("CREATE TABLE t (x int)").unwrap_err();
    assert!(e.contains("permission denied for schema public"), "{e}");

    // Again: nothing to apply, nothing to rotate.
    let out = f.run(false).unwrap();
    assert_eq!((out.applied.len(), out.rotated), (0, false));
    assert_eq!(f.version("AWSCURRENT").unwrap().0, first_version);

    // Rotation asked for: a new version, the old password refused, the new one accepted.
    let out = f.run(true).unwrap();
    assert!(out.rotated);
    let (second_version, _) = f.version("AWSCURRENT").unwrap();
    assert_ne!(second_version, first_version);
    let new = f.app_password();
    assert_ne!(new, password);
    assert!(!f.logs_in(&password), "the old password no longer works");
    assert!(f.logs_in(&new));

    // A password changed behind the secret's back is noticed and replaced.
    f.admin(&format!("ALTER ROLE {} PASSWORD 'changed-by-hand'", app.name));
    assert!(!f.logs_in(&new));
    assert!(f.run(false).unwrap().rotated);
    assert!(f.logs_in(&f.app_password()));
}

#[test]
fn an_interrupted_rotation_is_completed_and_its_password_is_never_sql() {
    let master = TestRole::new("fleet_master", "CREATEROLE");
    let app = TestRole::reserve("fleet_app");
    let f = Fixture::new(&master, &app);
    f.run(false).unwrap();
    let (current, _) = f.version("AWSCURRENT").unwrap();
    // A run stopped after PutSecretValue (step 1), with a password that would break a query
    // built by pasting it into SQL.
    let hostile = r"p'; DROP TABLE devices; --\x";
    let pending = serde_json::json!({"username": app.name, "password": hostile, "engine": "postgres"}).to_string();
    f.rt.block_on(
        f.client.put_secret_value().secret_id(&f.settings.app_secret_arn).client_request_token("0123456789abcdef0123456789abcdef").secret_string(pending).version_stages("AWSPENDING").send(),
    )
    .unwrap();
    assert!(!f.logs_in(hostile));

    let out = f.run(false).unwrap();
    assert!(out.rotated, "{out:?}");
    let (now, value) = f.version("AWSCURRENT").unwrap();
    assert_eq!(now, "0123456789abcdef0123456789abcdef");
    assert_ne!(now, current);
    assert_eq!(value["password"], hostile);
    assert!(f.version("AWSPENDING").is_none());
    assert!(f.logs_in(hostile), "the pending password was set, character for character");
    f.as_app("SELECT count(*) FROM devices").expect("devices is still there");
}

#[test]
fn a_role_that_owns_something_or_belongs_to_a_role_is_refused() {
    let master = TestRole::new("fleet_master", "CREATEROLE");
    let app = TestRole::reserve("fleet_app");
    let group = TestRole::new("fleet_group", "NOLOGIN");
    let f = Fixture::new(&master, &app);
    f.run(false).unwrap();

    f.admin(&format!("CREATE TABLE owned_by_app (x int); ALTER TABLE owned_by_app OWNER TO {}", app.name));
    let e = f.run(false).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("the runtime role {0} owns objects (1 in pg_class): an owner may ALTER, DROP and TRUNCATE them, so it must own none; run REASSIGN OWNED BY {0} TO {1} in each database concerned, then invoke migrate again", app.name, master.name)
    );
    f.admin("DROP TABLE owned_by_app");

    f.admin(&format!("GRANT {} TO {}", group.name, app.name));
    let e = f.run(false).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("the runtime role {0} is a member of {1}: it would hold their privileges too, and must be a member of no role; run REVOKE {1} FROM {0}, then invoke migrate again", app.name, group.name)
    );
    f.admin(&format!("REVOKE {} FROM {}", group.name, app.name));
    f.run(false).unwrap();
}

#[test]
fn wrong_attributes_are_corrected_and_the_master_is_not_a_runtime_role() {
    let master = TestRole::new("fleet_master", "CREATEROLE");
    let app = TestRole::new("fleet_app", "CREATEDB");
    let mut f = Fixture::new(&master, &app);
    f.run(false).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Attrs {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        rolcreatedb: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        rolcanlogin: bool,
    }
    let a: Attrs = diesel::sql_query(format!("SELECT rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = '{}'", app.name))
        .get_result(&mut f.db.conn())
        .unwrap();
    assert!(!a.rolcreatedb && a.rolcanlogin);

    f.settings.app_username = master.name.clone();
    let e = f.run(false).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("DB_APP_USERNAME is {:?}, the master user of the master secret: the runtime role must be another role; set DB_APP_USERNAME to another name (default fleet_app)", master.name)
    );
}

#[test]
fn a_master_password_the_database_refuses_is_one_clear_line() {
    let master = TestRole::new("fleet_master", "CREATEROLE");
    let app = TestRole::reserve("fleet_app");
    let mut f = Fixture::new(&master, &app);
    f.master.password = "stale".into();
    let e = f.run(false).unwrap_err().to_string();
    assert!(e.starts_with(&format!("connecting to 127.0.0.1:{}/{} as the master user {} failed: ", f.settings.db.port, f.db.name(), master.name)), "{e}");
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(e.ends_with("check DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE and the master secret (DB_MASTER_SECRET_ARN)"), "{e}");
    assert!(!e.contains('\n'));
}
