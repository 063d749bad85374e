//! The API Gateway TOKEN authorizer: `Bearer <token>` checked against the database.
//!
//! - valid token: `Allow` for the routes its scopes grant and `Deny` for the routes a granted
//!   route's `*` would also admit, so the cached policy grants exactly its routes (see
//!   [`fleet_core::auth::authorize`]), `principalId` = the token's owner, context
//!   `{"scopes": "a:b c:d", "token_id": ..}`;
//! - revoked, expired or unknown token: `Deny` for the whole stage;
//! - missing or malformed header (or not a TOKEN event): the error `Unauthorized`, which API
//!   Gateway turns into a 401;
//! - database unavailable: an invocation error (API Gateway's 500). Not a `Deny`: API Gateway
//!   caches policies per token, and a cached `Deny` would lock a valid token out for the cache's
//!   TTL after the database recovers. Never an `Allow`.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use chrono::Utc;
use fleet_core::auth::{AuthorizeError, PolicyOutcome, authorize};
use fleet_core::RouteTable;
use fleet_db::Pool;
use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::{Map, Value};

/// The authorizer's response, exactly as API Gateway reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    pub principal_id: String,
    pub policy_document: PolicyDocument,
    /// String values only (API Gateway accepts string, number and boolean).
    pub context: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub action: &'static str,
    pub effect: &'static str,
    pub resource: Vec<String>,
}

impl From<PolicyOutcome> for AuthorizerResponse {
    fn from(o: PolicyOutcome) -> Self {
        let statement = [("Allow", o.allow), ("Deny", o.deny)]
            .into_iter()
            .filter(|(_, resource)| !resource.is_empty())
            .map(|(effect, resource)| Statement { action: "execute-api:Invoke", effect, resource })
            .collect();
        Self {
            principal_id: o.principal_id,
            policy_document: PolicyDocument { version: "2012-10-17", statement },
            context: o.context.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        }
    }
}

/// The error API Gateway maps to 401: the message must be exactly `Unauthorized`.
pub fn unauthorized() -> Diagnostic {
    Diagnostic { error_type: "Unauthorized".into(), error_message: "Unauthorized".into() }
}

fn diagnostic(e: AuthorizeError) -> Diagnostic {
    match e {
        AuthorizeError::Unauthorized => unauthorized(),
        other => Diagnostic { error_type: "AuthorizerError".into(), error_message: other.to_string() },
    }
}

/// Handles one invocation. Takes the raw event so that a wrong shape is answered here (as
/// `Unauthorized`) rather than by the runtime's deserializer.
pub async fn handle(pool: Pool, table: &'static RouteTable, event: Value) -> Result<AuthorizerResponse, Diagnostic> {
    let req: ApiGatewayCustomAuthorizerRequest = serde_json::from_value(event).map_err(|e| {
        tracing::warn!(error = %e, "not a TOKEN authorizer event");
        unauthorized()
    })?;
    let outcome = tokio::task::spawn_blocking(move || {
        authorize(
            req.authorization_token.as_deref(),
            req.method_arn.as_deref(),
            |id| pool.get().map_err(fleet_db::DbError::from).and_then(|mut c| fleet_db::find_token(&mut c, id)),
            Utc::now(),
            table,
        )
    })
    .await
    .map_err(|e| Diagnostic { error_type: "AuthorizerError".into(), error_message: format!("decision task failed: {e}") })?;
    match outcome {
        Ok(o) => {
            tracing::info!(allow = o.allows(), principal = %o.principal_id, reason = o.reason, "decision");
            Ok(o.into())
        }
        Err(e) => {
            tracing::warn!(error = %e, "no decision");
            Err(diagnostic(e))
        }
    }
}
