//! The server's routes through `tower::ServiceExt::oneshot`, against the test PostgreSQL, and the
//! binary itself (migrate, serve, SIGTERM).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fleet_core::RouteTable;
use fleet_db::testing::{SAMPLE_SECRET, TestDb, seed_samples, unreachable_pool};
use fleet_server::{AppState, ServerConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt;

fn token() -> String {
    format!("Bearer roa_sample000001_{SAMPLE_SECRET}")
}

async fn call(state: &AppState, method: &str, uri: &str, auth: Option<&str>, body: Option<Vec<u8>>) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, json, parts.headers)
}

fn state(db: &TestDb) -> AppState {
    AppState { pool: db.pool(), table: RouteTable::embedded() }
}

/// A concrete URI and body for a route of the table.
fn concrete(method: &str, path: &str) -> (String, Option<Vec<u8>>) {
    let uri = path.replace("{device_id}", "sensor-1");
    let body = match (method, path) {
        ("POST", "/devices") => Some(json!({"id": "sensor-new", "name": "New"})),
        ("POST", "/devices/{device_id}/commands") => Some(json!({"command": "reboot"})),
        ("POST", "/devices/{device_id}/tags") => Some(json!({"key": "env", "value": "prod"})),
        _ => None,
    };
    (uri, body.map(|b| b.to_string().into_bytes()))
}

#[tokio::test]
async fn every_route_in_the_table_is_served() {
    let db = TestDb::new();
    seed_samples(&mut db.conn());
    let s = state(&db);
    for route in RouteTable::embedded().routes() {
        let (uri, body) = concrete(&route.method, &route.path);
        let (status, json, _) = call(&s, &route.method, &uri, Some(&token()), body).await;
        assert!(status.is_success(), "{} {uri}: {status} {json}", route.method);
    }
}

#[tokio::test]
async fn authentication() {
    let db = TestDb::new();
    seed_samples(&mut db.conn());
    let s = state(&db);
    let t = |id: &str| format!("Bearer roa_{id}_{SAMPLE_SECRET}");
    let cases = [
        (None, StatusCode::UNAUTHORIZED),
        (Some("Basic YWxpY2U6cHc=".to_string()), StatusCode::UNAUTHORIZED),
        (Some("Bearer roa_sample000001_' OR 1=1--".to_string()), StatusCode::UNAUTHORIZED),
        (Some(t("revoked00001")), StatusCode::UNAUTHORIZED),
        (Some(t("expired00001")), StatusCode::UNAUTHORIZED),
        (Some(t("unknown00001")), StatusCode::UNAUTHORIZED),
        (Some(t("sample000001")), StatusCode::OK),
    ];
    for (auth, want) in cases {
        let (status, body, headers) = call(&s, "GET", "/devices", auth.as_deref(), None).await;
        assert_eq!(status, want, "{auth:?}: {body}");
        if want == StatusCode::UNAUTHORIZED {
            assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
            assert!(body["error"]["message"].is_string());
        }
    }
    let mut c = db.conn();
    let reader = fleet_db::issue_token(&mut c, "carol", &["devices:read".to_string()], None).unwrap();
    let (status, _, _) = call(&s, "POST", "/devices", Some(&format!("Bearer {}", reader.expose())), Some(b"{}".to_vec())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let nothing = fleet_db::issue_token(&mut c, "dave", &["other:thing".to_string()], None).unwrap();
    let (status, _, _) = call(&s, "GET", "/devices", Some(&format!("Bearer {}", nothing.expose())), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn hostile_requests() {
    let db = TestDb::new();
    seed_samples(&mut db.conn());
    let s = state(&db);
    let tk = token();
    let a = Some(tk.as_str());
    let (status, _, _) = call(&s, "GET", "/nope", a, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body, headers) = call(&s, "DELETE", "/devices", a, None).await;
    assert_eq!((status, headers[header::ALLOW].to_str().unwrap()), (StatusCode::METHOD_NOT_ALLOWED, "GET, POST"), "{body}");
    let (status, _, _) = call(&s, "POST", "/devices", a, Some(vec![b'x'; fleet_api::MAX_BODY_BYTES + 1])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body, _) = call(&s, "POST", "/devices", a, Some(b"{\"id\":".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, _) = call(&s, "GET", "/devices/x'%20OR%20'1'%3D'1", a, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(&s, "GET", "/devices/%FF%FE", a, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(&s, "GET", "/devices/sensor-m", a, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "mallory's device is invisible to alice");
    let (status, _, _) = call(&s, "GET", "/devices?limit=1000", a, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(&s, "GET", "/devices?limit=%ZZ", a, None).await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::OK, "{status}");
}

#[tokio::test]
async fn healthz_reports_the_database_and_livez_does_not_look() {
    let db = TestDb::new();
    let (status, body, _) = call(&state(&db), "GET", "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body, _) = call(&state(&db), "GET", "/livez", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let down = AppState { pool: unreachable_pool(), table: RouteTable::embedded() };
    let (status, body, _) = call(&down, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let start = std::time::Instant::now();
    let (status, body, _) = call(&down, "GET", "/livez", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    assert!(start.elapsed() < std::time::Duration::from_secs(1), "/livez waited for the database");
    let (status, _, _) = call(&down, "GET", "/devices", Some(&token()), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn config_from_env() {
    let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    let base: &[(&str, &str)] = &[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_USERNAME", "u"), ("DB_PASSWORD", "p")];
    let c = ServerConfig::from_lookup(env(base)).unwrap();
    assert_eq!((c.port, c.db.port, c.db.sslmode.as_str(), c.migrate_on_start), (8080, 5432, "prefer", false));
    assert!((c.secret_arn.is_none(), c.db.user.as_str(), c.db.sslrootcert.is_none()) == (true, "u", true));
    let secret: &[(&str, &str)] = &[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_SECRET_ARN", "arn:aws:secretsmanager:r:1:secret:s")];
    let c = ServerConfig::from_lookup(env(secret)).unwrap();
    assert_eq!((c.secret_arn.as_deref(), c.db.user.as_str()), (Some("arn:aws:secretsmanager:r:1:secret:s"), ""));
    let cases: [(&'static [(&'static str, &'static str)], &str); 6] = [
        (&[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_PASSWORD", "p")], "DB_USERNAME is not set"),
        (&[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_USERNAME", "u"), ("DB_PASSWORD", "p"), ("PORT", "http")], "PORT must be a port number"),
        (&[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_USERNAME", "u"), ("DB_PASSWORD", "p"), ("MIGRATE_ON_START", "yes")], "MIGRATE_ON_START must be true or false, got \"yes\""),
        (&[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_USERNAME", "u"), ("DB_PASSWORD", "p"), ("DB_SSLMODE", "maybe")], "DB_SSLMODE must be one of"),
        (&[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_SECRET_ARN", "s"), ("DB_SSLMODE", "verify-full")], "DB_SSLMODE=verify-full needs DB_SSLROOTCERT"),
        (&[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_SECRET_ARN", "s"), ("DB_SSLROOTCERT", "/app/certs/none.pem")], "DB_SSLROOTCERT must name a readable PEM file"),
    ];
    for (pairs, want) in cases {
        let e = ServerConfig::from_lookup(env(pairs)).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}");
        assert!(e.contains("task definition"), "{e}");
    }
}

/// The binary: `migrate` on an empty database, `serve` answering /healthz, exit 0 on SIGTERM.
#[test]
fn binary_migrates_serves_and_stops_on_sigterm() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let db = TestDb::new();
    let mut c = db.conn();
    diesel_migrations::MigrationHarness::revert_all_migrations(&mut c, fleet_db::MIGRATIONS).unwrap();
    let url = db.url().to_string();
    let hostport = url.split('@').nth(1).unwrap().split('/').next().unwrap().to_string();
    let (host, dbport) = hostport.rsplit_once(':').unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bin = env!("CARGO_BIN_EXE_server");
    let envs = [
        ("DB_HOST", host.to_string()),
        ("DB_PORT", dbport.to_string()),
        ("DB_NAME", db.name().to_string()),
        ("DB_USERNAME", "postgres".to_string()),
        ("DB_PASSWORD", "unused-with-trust-auth".to_string()),
        ("DB_SSLMODE", "disable".to_string()),
        ("PORT", port.to_string()),
    ];
    let out = Command::new(bin).arg("migrate").envs(envs.clone()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(fleet_db::migrate(&mut c).unwrap().is_empty(), "server migrate applied everything");

    let out = Command::new(bin).arg("frobnicate").envs(envs.clone()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command \"frobnicate\""));

    let mut child = Command::new(bin).envs(envs).env("MIGRATE_ON_START", "true").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut answer = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            s.read_to_string(&mut answer).unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let check = || Command::new(bin).arg("healthcheck").env("PORT", port.to_string()).output().unwrap();
    assert!(check().status.success(), "healthcheck passes while serving");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let after = check();
    assert!(!after.status.success(), "healthcheck fails once stopped");
    assert!(String::from_utf8_lossy(&after.stderr).starts_with("healthcheck: 127.0.0.1:"));
}

fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut answer = String::new();
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let _ = s.read_to_string(&mut answer);
    }
    answer
}

fn wait_for(port: u16, path: &str, want: &str) -> String {
    let mut answer = String::new();
    for _ in 0..100 {
        answer = get(port, path);
        if answer.starts_with(want) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    answer
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The container check: with PostgreSQL unreachable the process is alive (`/livez` 200,
/// `server healthcheck` exits 0, ECS keeps the task) and not ready (`/healthz` 503, the load
/// balancer stops sending it requests).
#[test]
fn healthcheck_passes_while_the_database_is_down() {
    use std::process::{Command, Stdio};
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bin = env!("CARGO_BIN_EXE_server");
    let envs = [
        ("DB_HOST", "127.0.0.1".to_string()),
        ("DB_PORT", closed.to_string()),
        ("DB_NAME", "none".to_string()),
        ("DB_USERNAME", "app".to_string()),
        ("DB_PASSWORD", "x".to_string()),
        ("PORT", port.to_string()),
    ];
    let _server = Killed(Command::new(bin).envs(envs).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    assert!(wait_for(port, "/livez", "HTTP/1.1 200").starts_with("HTTP/1.1 200"));
    assert!(get(port, "/healthz").starts_with("HTTP/1.1 503"));
    let check = Command::new(bin).arg("healthcheck").env("PORT", port.to_string()).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

/// DB_SECRET_ARN: the server reads the runtime role's credentials from Secrets Manager (moto) and,
/// after a rotation (new password in PostgreSQL and the secret, sessions ended), reconnects with
/// the new one in the same process.
#[test]
fn the_server_reads_its_secret_and_follows_a_rotation() {
    use fleet_db::testing::{TestRole, terminate_sessions};
    use std::process::{Command, Stdio};
    let role = TestRole::new("fleet_srv", "");
    let db = TestDb::new();
    let mut admin = db.conn();
    diesel::RunQueryDsl::execute(diesel::sql_query(format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}", role.name)), &mut admin).unwrap();
    let moto = fleet_aws::testing::Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sm = fleet_aws::aws_sdk_secretsmanager::Client::new(&moto.sdk());
    let value = |p: &str| json!({"username": role.name, "password": p, "engine": "postgres"}).to_string();
    let secret = rt.block_on(sm.create_secret().name("rust-on-aws/app").secret_string(value(&role.password)).send()).unwrap();
    let (host, dbport) = db.host_port();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let envs = [
        ("DB_HOST", host),
        ("DB_PORT", dbport.to_string()),
        ("DB_NAME", db.name().to_string()),
        ("DB_SECRET_ARN", secret.arn().unwrap().to_string()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("PORT", port.to_string()),
    ];
    let bin = env!("CARGO_BIN_EXE_server");
    let _server = Killed(Command::new(bin).envs(envs).env_remove("AWS_PROFILE").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let answer = wait_for(port, "/healthz", "HTTP/1.1 200");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let new = "r0tated-N3w-password";
    diesel::RunQueryDsl::execute(diesel::sql_query(format!("ALTER ROLE {} PASSWORD '{new}'", role.name)), &mut admin).unwrap();
    rt.block_on(sm.put_secret_value().secret_id(secret.arn().unwrap()).secret_string(value(new)).send()).unwrap();
    assert!(terminate_sessions(&role.name) >= 1);
    let answer = get(port, "/healthz");
    assert!(answer.starts_with("HTTP/1.1 200"), "the same process reconnects with the new password: {answer}");
}
