//! fleet-api: routing and validation (pure) and every operation against the test PostgreSQL.

use fleet_api::{MAX_BODY_BYTES, Operation, Principal, Request, Response, execute, handle, prepare};
use fleet_core::RouteTable;
use fleet_db::testing::TestDb;
use serde_json::json;
use std::collections::HashMap;

const ALL: [&str; 5] = ["devices:read", "devices:write", "commands:read", "commands:write", "images:read"];

fn alice() -> Principal {
    Principal { owner: "alice".into(), scopes: ALL.iter().map(|s| s.to_string()).collect() }
}

/// A valid request for each route of the table (path params, body).
fn sample(method: &str, path: &str) -> (HashMap<String, String>, Option<Vec<u8>>) {
    let params: HashMap<String, String> = fleet_core::Route { method: method.into(), path: path.into(), scope: "x:y".into() }
        .params()
        .map(|p| (p.to_string(), "dev-1".to_string()))
        .collect();
    let body = match (method, path) {
        ("POST", "/devices") => Some(json!({"id": "dev-2", "name": "Two"})),
        ("POST", "/devices/{device_id}/commands") => Some(json!({"command": "reboot"})),
        ("POST", "/devices/{device_id}/tags") => Some(json!({"key": "env", "value": "prod"})),
        _ => None,
    };
    (params, body.map(|b| b.to_string().into_bytes()))
}

fn call(method: &str, resource: &str, params: &[(&str, &str)], body: Option<&[u8]>, p: Option<&Principal>) -> Result<Operation, Response> {
    let params: HashMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let query = HashMap::new();
    prepare(RouteTable::embedded(), &Request { method, resource, path_params: &params, query: &query, body, principal: p })
}

fn status(r: Result<Operation, Response>) -> u16 {
    r.map(|_| 200).unwrap_or_else(|e| e.status)
}

#[test]
fn every_route_in_the_table_is_implemented() {
    let table = RouteTable::embedded();
    let p = alice();
    for route in table.routes() {
        let (params, body) = sample(&route.method, &route.path);
        let query = HashMap::new();
        let req = Request {
            method: &route.method,
            resource: &route.path,
            path_params: &params,
            query: &query,
            body: body.as_deref(),
            principal: Some(&p),
        };
        let prepared = prepare(table, &req);
        assert!(prepared.is_ok(), "{} {}: {:?}", route.method, route.path, prepared.err());
    }
}

#[test]
fn unknown_routes_and_methods() {
    let p = alice();
    assert_eq!(status(call("GET", "/admin", &[], None, Some(&p))), 404);
    let r = call("DELETE", "/devices", &[], None, Some(&p)).unwrap_err();
    assert_eq!((r.status, r.allow.as_deref()), (405, Some("GET, POST")));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("use GET, POST"));
}

#[test]
fn principal_and_scope_are_required() {
    assert_eq!(status(call("GET", "/devices", &[], None, None)), 401);
    let reader = Principal { owner: "a".into(), scopes: vec!["devices:read".into()] };
    assert_eq!(status(call("GET", "/devices", &[], None, Some(&reader))), 200);
    let r = call("POST", "/devices", &[], Some(b"{}"), Some(&reader)).unwrap_err();
    assert_eq!(r.status, 403);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("devices:write"));
}

#[test]
fn hostile_bodies() {
    let p = alice();
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(status(call("POST", "/devices", &[], Some(&big), Some(&p))), 413);
    let cases: [(&[u8], &str); 7] = [
        (b"", "request body is empty"),
        (b"   ", "request body is empty"),
        (b"{\"id\": ", "is not the expected JSON"),
        (b"[1,2]", "is not the expected JSON"),
        (b"{\"id\": \"x\", \"name\": \"y\", \"owner\": \"mallory\"}", "unknown field `owner`"),
        (b"{\"id\": \"x'; DROP TABLE devices;--\", \"name\": \"y\"}", "invalid device_id"),
        (b"\xff\xfe", "is not the expected JSON"),
    ];
    for (body, want) in cases {
        let r = call("POST", "/devices", &[], Some(body), Some(&p)).unwrap_err();
        assert_eq!(r.status, 400, "{body:?}");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(want), "{body:?}: {msg}");
    }
    let r = call("POST", "/devices/{device_id}/commands", &[("device_id", "d")], Some(br#"{"command": "reboot", "payload": 5}"#), Some(&p));
    assert!(r.unwrap_err().body["error"]["message"].as_str().unwrap().starts_with("invalid payload"));
}

#[test]
fn hostile_path_and_query() {
    let p = alice();
    for id in ["x' OR '1'='1", "../../etc", "", "A", "\u{0}"] {
        assert_eq!(status(call("GET", "/devices/{device_id}", &[("device_id", id)], None, Some(&p))), 400, "{id:?}");
    }
    assert_eq!(status(call("GET", "/devices/{device_id}", &[], None, Some(&p))), 400, "missing param");
    let params = HashMap::new();
    for (limit, want) in [("0", 400), ("101", 400), ("ten", 400), ("1; DROP", 400), ("100", 200)] {
        let query: HashMap<String, String> = [("limit".to_string(), limit.to_string())].into();
        let req = Request { method: "GET", resource: "/devices", path_params: &params, query: &query, body: None, principal: Some(&p) };
        assert_eq!(status(prepare(RouteTable::embedded(), &req)), want, "{limit}");
    }
}

#[test]
fn operations_against_the_database() {
    let db = TestDb::new();
    let mut c = db.conn();
    let run = |c: &mut fleet_db::PgConnection, op| execute(c, op);
    let created = run(&mut c, Operation::CreateDevice {
        owner: "alice".into(),
        new: fleet_core::model::CreateDevice { id: "dev-1".into(), name: "One".into() },
    });
    assert_eq!((created.status, created.body["id"].as_str()), (201, Some("dev-1")));
    let dup = run(&mut c, Operation::CreateDevice {
        owner: "bob".into(),
        new: fleet_core::model::CreateDevice { id: "dev-1".into(), name: "One".into() },
    });
    assert_eq!(dup.status, 409);
    let got = run(&mut c, Operation::GetDevice { owner: "bob".into(), device_id: "dev-1".into() });
    assert_eq!(got.status, 404, "another owner's device is not found");
    assert_eq!(got.body["error"]["message"], "device \"dev-1\" not found");
    let cmd = run(&mut c, Operation::CreateCommand {
        owner: "alice".into(),
        device_id: "dev-1".into(),
        command: "reboot".into(),
        payload: json!({}),
    });
    assert_eq!(cmd.status, 201);
    let list = run(&mut c, Operation::ListCommands { owner: "alice".into(), device_id: "dev-1".into(), limit: 5 });
    assert_eq!(list.body["commands"].as_array().unwrap().len(), 1);
    let tag = run(&mut c, Operation::SetTag {
        owner: "alice".into(),
        device_id: "dev-1".into(),
        tag: fleet_core::model::SetTag { key: "env".into(), value: "<b>prod</b>".into() },
    });
    assert_eq!(tag.body["tags"]["env"], "<b>prod</b>");
    let devices = run(&mut c, Operation::ListDevices { owner: "alice".into(), limit: 10 });
    assert_eq!(devices.body["devices"][0]["tags"]["env"], "<b>prod</b>");
    assert_eq!(run(&mut c, Operation::ListImages { limit: 10 }).body, json!({"images": []}));
}

#[test]
fn database_down_is_503_and_invalid_requests_never_touch_it() {
    let pool = fleet_db::testing::unreachable_pool();
    let p = alice();
    let params = HashMap::new();
    let req = |body: Option<&'static [u8]>| Request {
        method: "POST",
        resource: "/devices",
        path_params: &params,
        query: &params,
        body,
        principal: Some(&p),
    };
    assert_eq!(handle(&pool, RouteTable::embedded(), &req(Some(b"nope"))).status, 400);
    let r = handle(&pool, RouteTable::embedded(), &req(Some(br#"{"id": "a", "name": "b"}"#)));
    assert_eq!((r.status, r.body["error"]["message"].as_str()), (503, Some("database unavailable, retry later")));
}
