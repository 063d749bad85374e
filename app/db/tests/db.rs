//! fleet-db against the real test PostgreSQL (TEST_DATABASE_URL): one fresh database per test.

use chrono::{Duration, Utc};
use fleet_core::model::{CreateDevice, ImagePush};
use fleet_db::testing::{TestDb, insert_token, unreachable_pool};
use fleet_db::{DbError, MIGRATIONS, migrate};
use diesel_migrations::MigrationHarness;
use serde_json::json;

fn dev(id: &str) -> CreateDevice {
    CreateDevice { id: id.into(), name: format!("Device {id}") }
}

#[test]
fn migrations_are_idempotent_and_reversible() {
    let db = TestDb::new();
    let mut c = db.conn();
    assert!(migrate(&mut c).unwrap().is_empty(), "second run applies nothing");
    c.revert_all_migrations(MIGRATIONS).unwrap();
    assert_eq!(migrate(&mut c).unwrap().len(), 1);
}

#[test]
fn concurrent_migrations_serialise_on_the_advisory_lock() {
    let db = TestDb::new();
    let mut c = db.conn();
    c.revert_all_migrations(MIGRATIONS).unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let url = db.url().to_string();
            std::thread::spawn(move || migrate(&mut fleet_db::connect(&url).unwrap()).unwrap().len())
        })
        .collect();
    let applied: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(applied, 1, "exactly one starter applies the migration");
}

#[test]
fn tokens_round_trip_hashed() {
    let db = TestDb::new();
    let mut c = db.conn();
    let scopes = vec!["devices:read".to_string()];
    let t = fleet_db::issue_token(&mut c, "alice", &scopes, None).unwrap();
    let rec = fleet_db::find_token(&mut c, t.id()).unwrap().unwrap();
    assert_eq!(rec.token_sha256, t.sha256());
    assert_ne!(rec.token_sha256, t.expose(), "never stored in clear");
    assert_eq!((rec.owner.as_str(), rec.scopes.clone()), ("alice", scopes.clone()));
    assert!(fleet_db::find_token(&mut c, "nonexistent1").unwrap().is_none());
    assert!(fleet_db::revoke_token(&mut c, t.id(), Utc::now()).unwrap());
    assert!(!fleet_db::revoke_token(&mut c, t.id(), Utc::now()).unwrap(), "already revoked");

    assert!(matches!(fleet_db::issue_token(&mut c, "Bad Owner", &scopes, None), Err(DbError::Invalid(_))));
    assert!(matches!(fleet_db::issue_token(&mut c, "alice", &[], None), Err(DbError::Invalid(_))));
    assert!(matches!(fleet_db::issue_token(&mut c, "alice", &["nope".into()], None), Err(DbError::Invalid(_))));
}

#[test]
fn devices_are_scoped_to_their_owner() {
    let db = TestDb::new();
    let mut c = db.conn();
    fleet_db::create_device(&mut c, "alice", &dev("a-1")).unwrap();
    fleet_db::create_device(&mut c, "alice", &dev("a-2")).unwrap();
    fleet_db::create_device(&mut c, "bob", &dev("b-1")).unwrap();
    let e = fleet_db::create_device(&mut c, "bob", &dev("a-1")).unwrap_err();
    assert_eq!(e.to_string(), "device \"a-1\" already exists: choose another id");
    let ids: Vec<_> = fleet_db::list_devices(&mut c, "alice", 50).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, ["a-1", "a-2"]);
    assert_eq!(fleet_db::list_devices(&mut c, "alice", 1).unwrap().len(), 1);
    assert!(fleet_db::get_device(&mut c, "bob", "a-1").unwrap().is_none());
    assert!(fleet_db::add_command(&mut c, "bob", "a-1", "reboot", &json!({})).unwrap().is_none());
    assert!(fleet_db::list_commands(&mut c, "bob", "a-1", 10).unwrap().is_none());
    assert!(fleet_db::set_tag(&mut c, "bob", "a-1", "k", "v").unwrap().is_none());
    assert!(matches!(
        fleet_db::create_device(&mut c, "alice", &dev("Bad Id")),
        Err(DbError::Invalid(_))
    ));
}

#[test]
fn commands_and_tags() {
    let db = TestDb::new();
    let mut c = db.conn();
    fleet_db::create_device(&mut c, "alice", &dev("d")).unwrap();
    let hostile = json!({"note": "'); DROP TABLE commands;--"});
    let cmd = fleet_db::add_command(&mut c, "alice", "d", "reboot", &hostile).unwrap().unwrap();
    assert_eq!(cmd.payload, hostile, "stored as data");
    fleet_db::add_command(&mut c, "alice", "d", "ping", &json!({})).unwrap();
    let names: Vec<_> =
        fleet_db::list_commands(&mut c, "alice", "d", 10).unwrap().unwrap().into_iter().map(|c| c.command).collect();
    assert_eq!(names, ["ping", "reboot"], "newest first");

    fleet_db::set_tag(&mut c, "alice", "d", "env", "dev").unwrap();
    let d = fleet_db::set_tag(&mut c, "alice", "d", "env", "prod").unwrap().unwrap();
    assert_eq!(d.tags.get("env").map(String::as_str), Some("prod"));
    for i in 1..fleet_core::model::MAX_TAGS_PER_DEVICE {
        fleet_db::set_tag(&mut c, "alice", "d", &format!("k{i}"), "v").unwrap();
    }
    let e = fleet_db::set_tag(&mut c, "alice", "d", "one-more", "v").unwrap_err();
    assert!(e.to_string().contains("already has 50 tags"), "{e}");
    assert!(fleet_db::set_tag(&mut c, "alice", "d", "env", "again").is_ok(), "replacing stays allowed");
}

#[test]
fn images_upsert() {
    let db = TestDb::new();
    let mut c = db.conn();
    let push = ImagePush { repository: "svc".into(), digest: format!("sha256:{}", "a".repeat(64)), tag: Some("v1".into()) };
    let at = Utc::now();
    fleet_db::record_image(&mut c, &push, Some(10), Some(at)).unwrap();
    let again = ImagePush { tag: Some("v2".into()), ..push };
    let img = fleet_db::record_image(&mut c, &again, Some(11), Some(at)).unwrap();
    assert_eq!((img.tag.as_deref(), img.size_bytes), (Some("v2"), Some(11)));
    assert_eq!(fleet_db::list_images(&mut c, 10).unwrap().len(), 1);
}

#[test]
fn purges_by_cutoff() {
    let db = TestDb::new();
    let mut c = db.conn();
    let now = Utc::now();
    let secret = fleet_db::testing::SAMPLE_SECRET;
    let t = |id: &str| format!("roa_{id}_{secret}");
    insert_token(&mut c, &t("oldexpired01"), "a", &["devices:read"], Some(now - Duration::days(40)), None);
    insert_token(&mut c, &t("newexpired01"), "a", &["devices:read"], Some(now - Duration::days(1)), None);
    insert_token(&mut c, &t("oldrevoked01"), "a", &["devices:read"], None, Some(now - Duration::days(40)));
    insert_token(&mut c, &t("valid0000001"), "a", &["devices:read"], None, None);
    assert_eq!(fleet_db::purge_tokens(&mut c, now - Duration::days(30)).unwrap(), 2);
    assert!(fleet_db::find_token(&mut c, "newexpired01").unwrap().is_some());
    assert!(fleet_db::find_token(&mut c, "valid0000001").unwrap().is_some());
    assert_eq!(fleet_db::purge_tokens(&mut c, now - Duration::days(30)).unwrap(), 0);

    fleet_db::create_device(&mut c, "a", &dev("d")).unwrap();
    fleet_db::add_command(&mut c, "a", "d", "ping", &json!({})).unwrap();
    assert_eq!(fleet_db::purge_commands(&mut c, now - Duration::days(1)).unwrap(), 0);
    assert_eq!(fleet_db::purge_commands(&mut c, now + Duration::days(1)).unwrap(), 1);
}

#[test]
fn unreachable_database_is_unavailable_not_a_panic() {
    let pool = unreachable_pool();
    let Err(e) = pool.get().map_err(DbError::from) else { panic!("connected to nothing") };
    assert!(e.to_string().starts_with("database unavailable"), "{e}");
}

#[test]
fn conninfo_connects() {
    let db = TestDb::new();
    let info = fleet_db::ConnInfo {
        host: "127.0.0.1".into(),
        port: db.url().rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap(),
        dbname: db.name().into(),
        user: "postgres".into(),
        password: "it's \\ ignored by trust auth".into(),
        sslmode: "disable".into(),
        sslrootcert: None,
        connect_timeout_s: 5,
    };
    let mut c = fleet_db::connect(&info.to_conninfo()).unwrap();
    fleet_db::ping(&mut c).unwrap();
}
