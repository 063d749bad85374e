//! The API for ECS: axum serving the routes of `app/routes.json` with the same operations as the
//! handler Lambda ([`fleet_api`]), authenticated here with `Authorization: Bearer` against the
//! database through the same decision function as the authorizer, plus `GET /livez` (the
//! process answers; the container's health check) and `GET /healthz` (the database answers too;
//! the load balancer's).

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{MethodFilter, MethodRouter, get};
use chrono::Utc;
use fleet_api::{MAX_BODY_BYTES, Principal, Request, Response};
use fleet_core::auth::{Decision, DenyReason, decide, parse_authorization};
use fleet_core::{RouteMatch, RouteTable};
use fleet_db::{ConnInfo, CredentialCache, Credentials, Pool};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub table: &'static RouteTable,
}

/// The server's configuration (docs/contracts.md section 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to connect. `user` and `password` are `DB_USERNAME` and `DB_PASSWORD`, empty when
    /// the credentials come from `secret_arn`.
    pub db: ConnInfo,
    /// `DB_SECRET_ARN`: the runtime role's secret, read with the AWS SDK (the task role needs
    /// `secretsmanager:GetSecretValue`) at start and again after PostgreSQL refuses the password.
    /// When set, `DB_USERNAME` and `DB_PASSWORD` are ignored.
    pub secret_arn: Option<String>,
    /// `PORT`, default 8080.
    pub port: u16,
    /// `MIGRATE_ON_START=true`: apply migrations (under the advisory lock) before serving.
    pub migrate_on_start: bool,
}

/// A misconfiguration, in one line: the variable, the rule, the value, the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ServerConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |k: &str| {
            get(k).filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError(format!("{k} is not set: set it in the task definition (the database credentials: DB_SECRET_ARN, or DB_USERNAME and DB_PASSWORD for a local run)"))
            })
        };
        let port = |k: &str, default: u16| match get(k).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                ConfigError(format!("{k} must be a port number from 1 to 65535, got {v:?}: fix the task definition"))
            }),
        };
        let (sslmode, sslrootcert) = fleet_db::conninfo::tls_settings(get("DB_SSLMODE"), get("DB_SSLROOTCERT"))
            .map_err(|e| ConfigError(format!("{e}: fix the task definition")))?;
        let migrate_on_start = match get("MIGRATE_ON_START").as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError(format!("MIGRATE_ON_START must be true or false, got {other:?}: fix the task definition")));
            }
        };
        let secret_arn = get("DB_SECRET_ARN").filter(|v| !v.is_empty());
        let (user, password) = match secret_arn {
            Some(_) => (String::new(), String::new()),
            None => (
                required("DB_USERNAME")?,
                get("DB_PASSWORD").ok_or_else(|| {
                    ConfigError("DB_PASSWORD is not set: set DB_SECRET_ARN (the database secret, read with the task role) or DB_USERNAME and DB_PASSWORD in the task definition".into())
                })?,
            ),
        };
        Ok(Self {
            db: ConnInfo {
                host: required("DB_HOST")?,
                port: port("DB_PORT", 5432)?,
                dbname: required("DB_NAME")?,
                user,
                password,
                sslmode,
                sslrootcert,
                connect_timeout_s: 5,
            },
            secret_arn,
            port: port("PORT", 8080)?,
            migrate_on_start,
        })
    }

    /// The credentials to connect with: from `DB_SECRET_ARN` (read now, re-read after a
    /// rotation) or the fixed `DB_USERNAME`/`DB_PASSWORD`. Call it inside the Tokio runtime that
    /// will keep running (the re-read runs on it).
    pub async fn credentials(&self) -> Result<Arc<CredentialCache>, ConfigError> {
        match &self.secret_arn {
            Some(arn) => {
                let sdk = fleet_aws::sdk_config().await;
                fleet_aws::secret_credentials(&sdk, arn, "DB_SECRET_ARN").await.map_err(|e| ConfigError(e.to_string()))
            }
            None => Ok(Arc::new(CredentialCache::fixed(Credentials::new(&self.db.user, &self.db.password)))),
        }
    }
}

/// The server's pool: up to 8 connections, opened lazily with `credentials` (re-read after a
/// rotation); a request waits at most 3 s for one.
pub fn server_pool(config: &ServerConfig, credentials: Arc<CredentialCache>) -> Pool {
    fleet_db::credential_pool(config.db.clone(), credentials, 8, Duration::from_secs(3))
}

fn json(r: Response) -> HttpResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], r.body_string())
        .into_response();
    if let Some(allow) = r.allow.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    if r.status == 401 {
        out.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    out
}

/// Every route of the table, `/livez`, `/healthz`, and JSON 404/405 answers.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new().route("/livez", get(livez)).route("/healthz", get(healthz));
    for path in state.table.paths() {
        let mut methods: MethodRouter<AppState> = MethodRouter::new().fallback(api);
        for route in state.table.routes().iter().filter(|r| r.path == path) {
            let filter = match route.method.as_str() {
                "GET" => MethodFilter::GET,
                "POST" => MethodFilter::POST,
                "PUT" => MethodFilter::PUT,
                "PATCH" => MethodFilter::PATCH,
                _ => MethodFilter::DELETE,
            };
            methods = methods.on(filter, api);
        }
        app = app.route(path, methods);
    }
    app.fallback(not_found).with_state(state)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> HttpResponse {
    json(Response::error(
        404,
        format!("no route {} {}", method, fleet_core::validate::excerpt(uri.path())),
    ))
}

/// `GET /livez`: 200 while the process serves HTTP; never touches the database. The container's
/// HEALTHCHECK (`server healthcheck`) probes it: a database outage must not make ECS replace
/// every task (which would not bring the database back), only take them out of the load balancer.
async fn livez() -> HttpResponse {
    json(Response::ok(200, serde_json::json!({"status": "ok"})))
}

/// `GET /healthz`: 200 when the database answers `SELECT 1`, else 503 (the load balancer's
/// target-group check).
async fn healthz(State(s): State<AppState>) -> HttpResponse {
    let pool = s.pool.clone();
    let ok = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(fleet_db::DbError::from)?;
        fleet_db::ping(&mut conn)
    })
    .await;
    match ok {
        Ok(Ok(())) => json(Response::ok(200, serde_json::json!({"status": "ok"}))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check failed");
            json(Response::ok(503, serde_json::json!({"status": "unavailable", "database": "unreachable"})))
        }
        Err(_) => json(Response::ok(503, serde_json::json!({"status": "unavailable"}))),
    }
}

/// Authenticates a request against the database (blocking). 401 for a missing, malformed,
/// unknown, revoked or expired token; 403 for a token that grants no route; 503 when the database
/// is unavailable.
pub fn authenticate(pool: &Pool, table: &RouteTable, authorization: Option<&str>) -> Result<Principal, Response> {
    let presented = parse_authorization(authorization).map_err(|e| Response::error(401, e.to_string()))?;
    let record = pool
        .get()
        .map_err(fleet_db::DbError::from)
        .and_then(|mut c| fleet_db::find_token(&mut c, presented.id()))
        .map_err(fleet_api::db_error)?;
    match decide(&presented, record.as_ref(), Utc::now(), table) {
        Decision::Allow(grant) => Ok(grant.into()),
        Decision::Deny(DenyReason::NoRoutes) => Err(Response::error(403, "this token grants no route")),
        Decision::Deny(why) => Err(Response::error(401, format!("{}: use a valid token", why.as_str()))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn api(
    State(s): State<AppState>,
    method: Method,
    matched: MatchedPath,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    let resource = matched.as_str().to_string();
    let method = method.as_str().to_string();
    let no_params = HashMap::new();
    if !matches!(s.table.find(&method, &resource), RouteMatch::Found(_)) {
        let req = Request { method: &method, resource: &resource, path_params: &no_params, query: &no_params, body: None, principal: None };
        return json(fleet_api::prepare(s.table, &req).err().unwrap_or_else(|| Response::error(500, "internal error")));
    }
    let Ok(Path(path_params)) = path else {
        return json(Response::error(400, "path parameters are not valid UTF-8 after percent-decoding"));
    };
    let Ok(Query(query)) = query else {
        return json(Response::error(400, "query string is not valid: use ?limit=<1..100>"));
    };
    let too_big = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES);
    if too_big {
        return json(Response::error(413, format!("request body is over the limit of {MAX_BODY_BYTES} bytes")));
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return json(Response::error(413, format!("request body is over the limit of {MAX_BODY_BYTES} bytes")));
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_string));
    let (pool, table) = (s.pool.clone(), s.table);
    let response = tokio::task::spawn_blocking(move || {
        let authorization = match authorization {
            Some(Err(_)) => return Response::error(401, "Authorization header is not visible ASCII: send `Bearer <token>`"),
            Some(Ok(a)) => Some(a),
            None => None,
        };
        let principal = match authenticate(&pool, table, authorization.as_deref()) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let body = (!bytes.is_empty()).then_some(&bytes[..]);
        let req = Request {
            method: &method,
            resource: &resource,
            path_params: &path_params,
            query: &query,
            body,
            principal: Some(&principal),
        };
        let out = fleet_api::handle(&pool, table, &req);
        tracing::info!(method = %method, resource = %resource, owner = %principal.owner, status = out.status, "request");
        out
    })
    .await
    .unwrap_or_else(|_| Response::error(500, "internal error"));
    json(response)
}

/// Resolves on SIGTERM (ECS stopping the task) or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
