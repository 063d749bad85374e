//! The event Lambda on its sample events, against the test PostgreSQL, with an ECR client
//! pointing at a closed port: every case here must be decided without calling ECR, or fail
//! cleanly when it does. The recording path against moto's ECR is in tests/moto.rs.

use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
use fleet_db::testing::{TestDb, unreachable_pool};
use fleet_event::{Outcome, handle};
use serde_json::Value;

const REPO: &str = "rust-on-aws-server";

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/event/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn dead_ecr() -> aws_sdk_ecr::Client {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .http_client(fleet_lambda::http_client())
        .build();
    aws_sdk_ecr::Client::from_conf(conf)
}

#[tokio::test]
async fn ignored_and_invalid_events() {
    let db = TestDb::new();
    let ecr = dead_ecr();
    for name in ["push-other-repository", "delete", "push-failed", "scheduled-event"] {
        let out = handle(db.pool(), &ecr, REPO, sample(name)).await.unwrap();
        assert!(matches!(out, Outcome::Ignored { .. }), "{name}: {out:?}");
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["outcome"], "ignored", "{name}");
        assert!(json["reason"].as_str().is_some_and(|r| !r.is_empty()), "{name}");
    }
    for (name, want) in [
        ("bad-digest", "invalid image-digest"),
        ("bad-tag", "invalid image-tag"),
        ("wrong-detail-shape", "ECR Image Action detail has the wrong shape"),
        ("wrong-shape", "not an EventBridge event"),
    ] {
        let e = handle(db.pool(), &ecr, REPO, sample(name)).await.unwrap_err();
        assert_eq!(e.error_type, "InvalidEvent", "{name}");
        assert!(e.error_message.starts_with(want), "{name}: {}", e.error_message);
    }
    assert!(fleet_db::list_images(&mut db.conn(), 10).unwrap().is_empty(), "nothing recorded");
}

#[tokio::test]
async fn unreachable_ecr_or_database_is_an_error() {
    let db = TestDb::new();
    let e = handle(db.pool(), &dead_ecr(), REPO, sample("push")).await.unwrap_err();
    assert_eq!(e.error_type, "EcrError");
    assert!(e.error_message.starts_with("ECR DescribeImages for rust-on-aws-server@sha256:"), "{}", e.error_message);
    // A database outage never reaches ECR for an ignored event either.
    assert!(handle(unreachable_pool(), &dead_ecr(), REPO, sample("delete")).await.is_ok());
}
