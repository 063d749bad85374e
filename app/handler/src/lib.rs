//! The handler Lambda: one function serving every route of the REST API, routed on
//! `(httpMethod, resource)` of API Gateway's REST (v1) proxy event against `app/routes.json`.
//!
//! The caller's identity is the authorizer's context (`principalId`, `scopes`); the operations
//! are [`fleet_api`]'s. Answers are JSON: 400 for bad JSON or invalid input, 401/403 for a missing
//! principal or scope, 404 for unknown ids and resources, 405 for a known resource with another
//! method, 413 for a body over [`fleet_api::MAX_BODY_BYTES`]. A malformed event (not a proxy
//! event) is an invocation error; nothing panics.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use fleet_api::{MAX_BODY_BYTES, Principal, Request, Response};
use fleet_core::RouteTable;
use fleet_db::Pool;
use lambda_runtime::Diagnostic;
use serde_json::Value;
use std::collections::HashMap;

/// The caller from the authorizer context API Gateway adds (`requestContext.authorizer`).
pub fn principal(req: &ApiGatewayProxyRequest) -> Option<Principal> {
    let fields = &req.request_context.authorizer.fields;
    let owner = fields.get("principalId")?.as_str().filter(|s| !s.is_empty())?.to_string();
    let scopes = fields
        .get("scopes")
        .and_then(Value::as_str)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    Some(Principal { owner, scopes })
}

/// Renders an API response as a proxy response.
pub fn proxy_response(r: &Response) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(allow) = r.allow.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
        headers.insert(header::ALLOW, allow);
    }
    let mut out = ApiGatewayProxyResponse::default();
    out.status_code = i64::from(r.status);
    out.headers = headers;
    out.body = Some(Body::Text(r.body_string()));
    out
}

fn invalid_event(detail: String) -> Diagnostic {
    Diagnostic { error_type: "InvalidEvent".into(), error_message: detail }
}

/// The request body as bytes, or the response refusing it (413 over the limit, 400 for bad base64).
pub fn body_bytes(req: &ApiGatewayProxyRequest) -> Result<Option<Vec<u8>>, Response> {
    let Some(body) = req.body.as_deref() else { return Ok(None) };
    // Base64 grows 4/3: refuse on the encoded size first, so a huge body is never decoded.
    let encoded_limit = if req.is_base64_encoded { MAX_BODY_BYTES.div_ceil(3) * 4 } else { MAX_BODY_BYTES };
    if body.len() > encoded_limit {
        return Err(Response::error(413, format!("request body is {} bytes; the limit is {MAX_BODY_BYTES}", body.len())));
    }
    if req.is_base64_encoded {
        return base64::engine::general_purpose::STANDARD
            .decode(body)
            .map(Some)
            .map_err(|e| Response::error(400, format!("request body is marked base64 but does not decode ({e})")));
    }
    Ok(Some(body.as_bytes().to_vec()))
}

/// Handles one invocation (the raw event, so a wrong shape is reported here, not by the runtime).
pub async fn handle(pool: Pool, table: &'static RouteTable, event: Value) -> Result<ApiGatewayProxyResponse, Diagnostic> {
    let req: ApiGatewayProxyRequest = serde_json::from_value(event)
        .map_err(|e| invalid_event(format!("not an API Gateway REST proxy event: {e}")))?;
    let body = match body_bytes(&req) {
        Ok(b) => b,
        Err(r) => return Ok(proxy_response(&r)),
    };
    let method = req.http_method.as_str().to_string();
    let resource = req.resource.clone().unwrap_or_default();
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in req.query_string_parameters.iter() {
        query.entry(k.to_string()).or_insert_with(|| v.to_string());
    }
    let principal = principal(&req);
    let path_params = req.path_parameters;
    let response = tokio::task::spawn_blocking(move || {
        let r = Request {
            method: &method,
            resource: &resource,
            path_params: &path_params,
            query: &query,
            body: body.as_deref(),
            principal: principal.as_ref(),
        };
        let out = fleet_api::handle(&pool, table, &r);
        tracing::info!(method = %method, resource = %resource, status = out.status, "request");
        out
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "request task failed");
        Response::error(500, "internal error")
    });
    Ok(proxy_response(&response))
}
