//! The REST API's operations, independent of the transport: the `handler` Lambda (API Gateway
//! proxy events) and the `server` (axum) both turn a request into a [`Request`], call
//! [`prepare`] (pure: route, scope, body size, JSON, validation) and then [`execute`] (the
//! database), and render the [`Response`].

use fleet_core::auth::Grant;
use fleet_core::model::{CreateCommand, CreateDevice, SetTag};
use fleet_core::{RouteMatch, RouteTable, ValidationError, validate};
use fleet_db::{DbError, PgConnection};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Largest request body accepted, in bytes (64 KiB; API Gateway itself allows 10 MB). Larger
/// bodies get a 413 before any parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Page size when `?limit=` is absent.
pub const DEFAULT_LIMIT: i64 = 50;

/// Who is calling: from the authorizer's context (Lambda) or the checked token (server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub owner: String,
    pub scopes: Vec<String>,
}

impl From<Grant> for Principal {
    fn from(g: Grant) -> Self {
        Self { owner: g.owner, scopes: g.scopes }
    }
}

/// One API call, as the transports see it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// The matched resource template, e.g. `/devices/{device_id}` (API Gateway's `resource`).
    pub resource: &'a str,
    pub path_params: &'a HashMap<String, String>,
    /// Query parameters (first value of each).
    pub query: &'a HashMap<String, String>,
    pub body: Option<&'a [u8]>,
    pub principal: Option<&'a Principal>,
}

/// A JSON response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    /// For 405: the methods the resource allows (the `Allow` header).
    pub allow: Option<String>,
}

impl Response {
    pub fn ok(status: u16, body: Value) -> Self {
        Self { status, body, allow: None }
    }

    /// `{"error": {"status": .., "message": ..}}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self { status, body: json!({"error": {"status": status, "message": message.into()}}), allow: None }
    }

    pub fn body_string(&self) -> String {
        self.body.to_string()
    }
}

/// What a valid request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    ListDevices { owner: String, limit: i64 },
    CreateDevice { owner: String, new: CreateDevice },
    GetDevice { owner: String, device_id: String },
    ListCommands { owner: String, device_id: String, limit: i64 },
    CreateCommand { owner: String, device_id: String, command: String, payload: Value },
    SetTag { owner: String, device_id: String, tag: SetTag },
    ListImages { limit: i64 },
}

fn bad(e: ValidationError) -> Response {
    Response::error(400, e.to_string())
}

fn limit(query: &HashMap<String, String>) -> Result<i64, Response> {
    match query.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=fleet_db::MAX_PAGE).contains(n))
            .ok_or_else(|| bad(ValidationError::new("limit", "a whole number from 1 to 100", v))),
    }
}

fn device_id(req: &Request<'_>) -> Result<String, Response> {
    let id = req
        .path_params
        .get("device_id")
        .ok_or_else(|| Response::error(400, "missing path parameter device_id"))?;
    validate::device_id(id).map_err(bad)?;
    Ok(id.clone())
}

fn json_body<T: serde::de::DeserializeOwned>(req: &Request<'_>, example: &str) -> Result<T, Response> {
    let body = req.body.filter(|b| !b.iter().all(u8::is_ascii_whitespace)).ok_or_else(|| {
        Response::error(400, format!("request body is empty: send a JSON object such as {example}"))
    })?;
    serde_json::from_slice(body).map_err(|e| {
        Response::error(400, format!("request body is not the expected JSON ({e}): send a JSON object such as {example}"))
    })
}

/// Routes and validates a request without touching the database: 404/405 for unknown routes,
/// 401 without a principal, 403 without the route's scope, 413 for a body over
/// [`MAX_BODY_BYTES`], 400 for bad JSON or invalid input.
pub fn prepare(table: &RouteTable, req: &Request<'_>) -> Result<Operation, Response> {
    let route = match table.find(req.method, req.resource) {
        RouteMatch::Found(r) => r,
        RouteMatch::MethodNotAllowed(methods) => {
            let mut r = Response::error(
                405,
                format!("method {} is not allowed on {}: use {}", validate::excerpt(req.method), req.resource, methods.join(", ")),
            );
            r.allow = Some(methods.join(", "));
            return Err(r);
        }
        RouteMatch::NotFound => {
            return Err(Response::error(404, format!("no route {} {}", validate::excerpt(req.method), validate::excerpt(req.resource))));
        }
    };
    let principal = req
        .principal
        .ok_or_else(|| Response::error(401, "missing credentials: send `Authorization: Bearer <token>`"))?;
    if !principal.scopes.iter().any(|s| *s == route.scope) {
        return Err(Response::error(403, format!("this token lacks the scope {} that {} {} needs", route.scope, route.method, route.path)));
    }
    if let Some(body) = req.body.filter(|b| b.len() > MAX_BODY_BYTES) {
        return Err(Response::error(413, format!("request body is {} bytes; the limit is {MAX_BODY_BYTES}", body.len())));
    }
    let owner = principal.owner.clone();
    Ok(match (route.method.as_str(), route.path.as_str()) {
        ("GET", "/devices") => Operation::ListDevices { owner, limit: limit(req.query)? },
        ("POST", "/devices") => {
            let new: CreateDevice = json_body(req, r#"{"id": "sensor-1", "name": "Kitchen sensor"}"#)?;
            new.validate().map_err(bad)?;
            Operation::CreateDevice { owner, new }
        }
        ("GET", "/devices/{device_id}") => Operation::GetDevice { owner, device_id: device_id(req)? },
        ("GET", "/devices/{device_id}/commands") => {
            Operation::ListCommands { owner, device_id: device_id(req)?, limit: limit(req.query)? }
        }
        ("POST", "/devices/{device_id}/commands") => {
            let device_id = device_id(req)?;
            let c: CreateCommand = json_body(req, r#"{"command": "reboot", "payload": {"delay_s": 5}}"#)?;
            let payload = c.validate().map_err(bad)?;
            Operation::CreateCommand { owner, device_id, command: c.command, payload }
        }
        ("POST", "/devices/{device_id}/tags") => {
            let device_id = device_id(req)?;
            let tag: SetTag = json_body(req, r#"{"key": "env", "value": "prod"}"#)?;
            tag.validate().map_err(bad)?;
            Operation::SetTag { owner, device_id, tag }
        }
        ("GET", "/images") => Operation::ListImages { limit: limit(req.query)? },
        (m, p) => return Err(Response::error(501, format!("route {m} {p} is in routes.json but not implemented"))),
    })
}

fn not_found(device_id: &str) -> Response {
    Response::error(404, format!("device {} not found", validate::excerpt(device_id)))
}

/// Maps a database error to a response; internal details go to the log, not the client.
pub fn db_error(e: DbError) -> Response {
    match e {
        DbError::Invalid(v) => bad(v),
        DbError::Conflict(m) => Response::error(409, m),
        DbError::Unavailable(m) => {
            tracing::error!(error = %m, "database unavailable");
            Response::error(503, "database unavailable, retry later")
        }
        other => {
            tracing::error!(error = %other, "database error");
            Response::error(500, "internal error")
        }
    }
}

fn to_json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| json!({"error": e.to_string()}))
}

/// Runs a prepared operation.
pub fn execute(conn: &mut PgConnection, op: Operation) -> Response {
    let result = match op {
        Operation::ListDevices { owner, limit } => {
            fleet_db::list_devices(conn, &owner, limit).map(|d| Response::ok(200, json!({"devices": to_json(d)})))
        }
        Operation::CreateDevice { owner, new } => {
            fleet_db::create_device(conn, &owner, &new).map(|d| Response::ok(201, to_json(d)))
        }
        Operation::GetDevice { owner, device_id } => fleet_db::get_device(conn, &owner, &device_id)
            .map(|d| d.map_or_else(|| not_found(&device_id), |d| Response::ok(200, to_json(d)))),
        Operation::ListCommands { owner, device_id, limit } => fleet_db::list_commands(conn, &owner, &device_id, limit)
            .map(|c| c.map_or_else(|| not_found(&device_id), |c| Response::ok(200, json!({"commands": to_json(c)})))),
        Operation::CreateCommand { owner, device_id, command, payload } => {
            fleet_db::add_command(conn, &owner, &device_id, &command, &payload)
                .map(|c| c.map_or_else(|| not_found(&device_id), |c| Response::ok(201, to_json(c))))
        }
        Operation::SetTag { owner, device_id, tag } => fleet_db::set_tag(conn, &owner, &device_id, &tag.key, &tag.value)
            .map(|d| d.map_or_else(|| not_found(&device_id), |d| Response::ok(200, to_json(d)))),
        Operation::ListImages { limit } => {
            fleet_db::list_images(conn, limit).map(|i| Response::ok(200, json!({"images": to_json(i)})))
        }
    };
    result.unwrap_or_else(db_error)
}

/// `prepare` then `execute` with a connection from `pool` (blocking: call from
/// `spawn_blocking`). The pool is only touched when the request is valid.
pub fn handle(pool: &fleet_db::Pool, table: &RouteTable, req: &Request<'_>) -> Response {
    match prepare(table, req) {
        Err(r) => r,
        Ok(op) => match pool.get() {
            Ok(mut conn) => execute(&mut conn, op),
            Err(e) => db_error(e.into()),
        },
    }
}
