//! The authorizer on every sample event of app/events/authorizer, against the test PostgreSQL.

use fleet_authorizer::handle;
use fleet_core::RouteTable;
use fleet_db::testing::{TestDb, seed_samples, unreachable_pool};
use serde_json::{Value, json};

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/authorizer/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

async fn run(pool: &fleet_db::Pool, event: Value) -> Result<Value, lambda_runtime::Diagnostic> {
    handle(pool.clone(), RouteTable::embedded(), event).await.map(|r| serde_json::to_value(r).unwrap())
}

#[tokio::test]
async fn every_sample_event() {
    let db = TestDb::new();
    seed_samples(&mut db.conn());
    let pool = db.pool();
    let prefix = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod";
    let allow = run(&pool, sample("allow")).await.unwrap();
    assert_eq!(
        allow,
        json!({
            "principalId": "alice@example.com",
            "policyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": [
                    format!("{prefix}/GET/devices"),
                    format!("{prefix}/POST/devices"),
                    format!("{prefix}/GET/devices/*"),
                    format!("{prefix}/GET/devices/*/commands"),
                    format!("{prefix}/POST/devices/*/commands"),
                    format!("{prefix}/POST/devices/*/tags"),
                    format!("{prefix}/GET/images"),
                ],
            }]},
            "context": {"scopes": "devices:read devices:write commands:read commands:write images:read", "token_id": "sample000001"},
        })
    );
    // The policy does not depend on the route called: API Gateway may cache it for the token.
    assert_eq!(run(&pool, sample("allow-other-route")).await.unwrap(), allow);

    for deny in ["revoked", "expired", "unknown"] {
        let out = run(&pool, sample(deny)).await.unwrap();
        assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Deny", "{deny}");
        assert_eq!(out["policyDocument"]["Statement"][0]["Resource"], json!([format!("{prefix}/*/*")]), "{deny}");
        assert_eq!(out["context"], json!({}), "{deny}");
    }

    for unauthorized in ["missing-header", "empty-header", "basic-scheme", "no-scheme", "injection", "wrong-shape"] {
        let e = run(&pool, sample(unauthorized)).await.unwrap_err();
        assert_eq!(e.error_message, "Unauthorized", "{unauthorized}");
    }
    let e = run(&pool, sample("bad-method-arn")).await.unwrap_err();
    assert!(e.error_message.starts_with("methodArn is not an execute-api method ARN"), "{e:?}");

    // The injection sample did not hurt the table.
    assert!(fleet_db::find_token(&mut db.conn(), "sample000001").unwrap().is_some());
}

#[tokio::test]
async fn hostile_events_never_allow() {
    let db = TestDb::new();
    seed_samples(&mut db.conn());
    let pool = db.pool();
    let huge = format!("Bearer {}", "A".repeat(1 << 20));
    let events = [
        json!(null),
        json!([]),
        json!("Bearer x"),
        json!({"type": "TOKEN", "authorizationToken": 42, "methodArn": "x"}),
        json!({"type": "TOKEN", "authorizationToken": huge, "methodArn": "arn:aws:execute-api:r:1:a/s/GET/"}),
        json!({"type": "TOKEN", "authorizationToken": "Bearer roa_sample000001_S3cretS3cretS3cretS3cretS3cretS3cretS3cX", "methodArn": "arn:aws:execute-api:r:1:a/s/GET/"}),
    ];
    for ev in events {
        match run(&pool, ev.clone()).await {
            Ok(out) => assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Deny", "{ev}"),
            Err(e) => assert!(!e.error_message.is_empty(), "{ev}"),
        }
    }
}

#[tokio::test]
async fn database_down_is_an_error_not_allow() {
    let e = run(&unreachable_pool(), sample("allow")).await.unwrap_err();
    assert_eq!(e.error_type, "AuthorizerError");
    assert!(e.error_message.starts_with("token store unavailable: database unavailable"), "{e:?}");
    // A malformed header is still a plain 401 without touching the database.
    assert_eq!(run(&unreachable_pool(), sample("basic-scheme")).await.unwrap_err().error_message, "Unauthorized");
}
