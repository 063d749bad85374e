//! The timer on its sample events, against the test PostgreSQL.

use chrono::{Duration, Utc};
use fleet_db::testing::{SAMPLE_SECRET, TestDb, insert_token, unreachable_pool};
use fleet_timer::{Retention, handle};
use serde_json::{Value, json};

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/timer/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

const RETENTION: Retention = Retention { token_days: 30, command_days: 90 };

#[tokio::test]
async fn scheduled_event_purges_old_rows() {
    let db = TestDb::new();
    let mut c = db.conn();
    let now = Utc::now();
    let t = |id: &str| format!("roa_{id}_{SAMPLE_SECRET}");
    insert_token(&mut c, &t("oldexpired01"), "a", &["devices:read"], Some(now - Duration::days(31)), None);
    insert_token(&mut c, &t("oldrevoked01"), "a", &["devices:read"], None, Some(now - Duration::days(31)));
    insert_token(&mut c, &t("recent000001"), "a", &["devices:read"], Some(now - Duration::days(29)), None);
    fleet_db::create_device(&mut c, "a", &fleet_core::model::CreateDevice { id: "d".into(), name: "d".into() }).unwrap();
    fleet_db::add_command(&mut c, "a", "d", "ping", &json!({})).unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("INSERT INTO commands (device_id, command, payload, issued_by, created_at) VALUES ('d', 'old', '{}', 'a', now() - interval '91 days')"),
        &mut c,
    )
    .unwrap();

    let out = handle(db.pool(), RETENTION, sample("scheduled")).await.unwrap();
    assert_eq!((out.tokens_purged, out.commands_purged), (2, 1));
    let json = serde_json::to_value(&out).unwrap();
    assert!(json["token_cutoff"].is_string() && json["command_cutoff"].is_string(), "{json}");
    let again = handle(db.pool(), RETENTION, sample("scheduled")).await.unwrap();
    assert_eq!((again.tokens_purged, again.commands_purged), (0, 0));
    assert!(fleet_db::find_token(&mut c, "recent000001").unwrap().is_some());
}

#[tokio::test]
async fn other_events_never_purge() {
    let db = TestDb::new();
    for name in ["wrong-source", "ecr-event", "wrong-shape"] {
        let e = handle(db.pool(), RETENTION, sample(name)).await.unwrap_err();
        assert_eq!(e.error_type, "InvalidEvent", "{name}: {e:?}");
    }
    for bad in [json!(null), json!([1]), json!({"detail-type": "Scheduled Event"})] {
        assert!(handle(db.pool(), RETENTION, bad).await.is_err());
    }
}

#[tokio::test]
async fn bad_retention_and_database_down_are_errors() {
    let db = TestDb::new();
    let e = handle(db.pool(), Retention { token_days: 0, command_days: 90 }, sample("scheduled")).await.unwrap_err();
    assert!(e.error_message.starts_with("invalid TOKEN_RETENTION_DAYS"), "{e:?}");
    let e = handle(unreachable_pool(), RETENTION, sample("scheduled")).await.unwrap_err();
    assert_eq!(e.error_type, "DatabaseError");
}
