//! The handler on every sample event of app/events/handler, against the test PostgreSQL, plus
//! the route-coverage check and generated hostile events.

use fleet_core::RouteTable;
use fleet_db::testing::{TestDb, seed_samples, unreachable_pool};
use serde_json::{Value, json};

fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/handler")
}

fn sample(name: &str) -> Value {
    let path = events_dir().join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// (status, parsed JSON body, headers) of one invocation.
async fn run(pool: &fleet_db::Pool, event: Value) -> (i64, Value, Value) {
    let r = fleet_handler::handle(pool.clone(), RouteTable::embedded(), event).await.expect("a proxy response");
    let out = serde_json::to_value(&r).unwrap();
    let body: Value = serde_json::from_str(out["body"].as_str().expect("a body")).expect("JSON body");
    assert_eq!(out["headers"]["content-type"], "application/json");
    (r.status_code, body, out["headers"].clone())
}

/// Expected status of each sample event (every file of the folder must be listed).
const EXPECTED: [(&str, i64); 23] = [
    ("list-devices", 200),
    ("create-device", 201),
    ("get-device", 200),
    ("list-commands", 200),
    ("create-command", 201),
    ("set-tag", 200),
    ("list-images", 200),
    ("create-command-base64", 201),
    ("bad-json", 400),
    ("wrong-json-type", 400),
    ("unknown-field", 400),
    ("empty-body", 400),
    ("bad-base64", 400),
    ("injection-device-id", 400),
    ("injection-in-body", 201),
    ("unknown-device", 404),
    ("other-owners-device", 404),
    ("unknown-route", 404),
    ("method-not-allowed", 405),
    ("missing-scope", 403),
    ("no-authorizer-context", 401),
    ("bad-limit", 400),
    ("wrong-shape", 0),
];

#[tokio::test]
async fn every_sample_event() {
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "every sample event has an expected status");

    let db = TestDb::new();
    seed_samples(&mut db.conn());
    let pool = db.pool();
    for (name, want) in EXPECTED {
        if want == 0 {
            let e = fleet_handler::handle(pool.clone(), RouteTable::embedded(), sample(name)).await.unwrap_err();
            assert_eq!(e.error_type, "InvalidEvent", "{name}");
            continue;
        }
        let (status, body, headers) = run(&pool, sample(name)).await;
        assert_eq!(status, want, "{name}: {body}");
        if want >= 400 {
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {body}");
        }
        if name == "method-not-allowed" {
            assert_eq!(headers["allow"], "GET, POST");
        }
    }
    // The injection-looking name is stored verbatim, as data.
    let (_, d, _) = run(&pool, {
        let mut e = sample("get-device");
        e["pathParameters"]["device_id"] = json!("sensor-9");
        e
    })
    .await;
    assert_eq!(d["name"], "Robert'); DROP TABLE devices;--");
}

#[tokio::test]
async fn every_route_in_the_table_has_a_served_sample() {
    let db = TestDb::new();
    seed_samples(&mut db.conn());
    let pool = db.pool();
    for route in RouteTable::embedded().routes() {
        let found = EXPECTED.iter().map(|(n, _)| sample(n)).find(|e| {
            e["httpMethod"] == route.method.as_str() && e["resource"] == route.path.as_str() && e["requestContext"]["authorizer"]["scopes"].as_str().is_some_and(|s| s.contains("images:read"))
        });
        let event = found.unwrap_or_else(|| panic!("no sample event in app/events/handler for {} {}", route.method, route.path));
        let (status, body, _) = run(&pool, event).await;
        assert!(status < 300, "{} {} is not served: {status} {body}", route.method, route.path);
    }
}

#[tokio::test]
async fn huge_and_hostile_events() {
    let db = TestDb::new();
    seed_samples(&mut db.conn());
    let pool = db.pool();
    let mut huge = sample("create-device");
    huge["body"] = json!(format!("{{\"id\": \"x\", \"name\": \"{}\"}}", "A".repeat(6 << 20)));
    let (status, body, _) = run(&pool, huge).await;
    assert_eq!(status, 413, "{body}");

    let mut huge64 = sample("create-command-base64");
    huge64["body"] = json!("QUFB".repeat(30_000));
    assert_eq!(run(&pool, huge64).await.0, 413);

    let mut deep = sample("create-device");
    deep["body"] = json!(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)));
    assert_eq!(run(&pool, deep).await.0, 400, "deep nesting is refused, not a stack overflow");

    let mut no_resource = sample("list-devices");
    no_resource.as_object_mut().unwrap().remove("resource");
    assert_eq!(run(&pool, no_resource).await.0, 404);

    let mut scopes_not_string = sample("list-devices");
    scopes_not_string["requestContext"]["authorizer"]["scopes"] = json!(["devices:read"]);
    assert_eq!(run(&pool, scopes_not_string).await.0, 403);

    for bad in [json!(null), json!(42), json!({"httpMethod": "BREW"}), json!({"httpMethod": 1, "requestContext": {}})] {
        assert!(fleet_handler::handle(pool.clone(), RouteTable::embedded(), bad.clone()).await.is_err(), "{bad}");
    }
}

#[tokio::test]
async fn database_down_is_503() {
    let (status, body, _) = run(&unreachable_pool(), sample("list-devices")).await;
    assert_eq!((status, body["error"]["message"].as_str()), (503, Some("database unavailable, retry later")));
}
