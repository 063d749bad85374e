//! The authorization decision, shared by the `authorizer` Lambda and the `server`: parse the
//! `Authorization` header, look the token up (through a closure, so this module stays pure),
//! decide, and for API Gateway build the policy's resource ARNs from the route table.

use crate::routes::{Route, RouteTable};
use crate::token::{self, ParsedToken};
use chrono::{DateTime, Utc};

/// A stored token, as the database returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    /// SHA-256 hex of the whole token.
    pub token_sha256: String,
    pub owner: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// `None`: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub token_id: String,
    pub owner: String,
    pub scopes: Vec<String>,
}

impl Grant {
    pub fn allows(&self, route: &Route) -> bool {
        self.scopes.iter().any(|s| *s == route.scope)
    }

    /// Scopes as one space-separated string (authorizer context values must be scalars).
    pub fn scopes_string(&self) -> String {
        self.scopes.join(" ")
    }
}

/// Why a well-formed token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    Unknown,
    Revoked,
    Expired,
    /// Valid, but its scopes grant no route of the table.
    NoRoutes,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown token",
            Self::Revoked => "revoked token",
            Self::Expired => "expired token",
            Self::NoRoutes => "token grants no route",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Grant),
    Deny(DenyReason),
}

/// The `Authorization` header is missing or not `Bearer <token>` with a well-formed token: API
/// Gateway's 401 (`Unauthorized`), the server's 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("missing Authorization header: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("Authorization header must be `Bearer <token>`")]
    Scheme,
    #[error("malformed bearer token: {0}")]
    Token(#[from] token::TokenError),
}

/// Parses `Bearer <token>`: exactly what the API's identity validation expression lets through
/// (`^Bearer roa_[a-z0-9]{12}_[A-Za-z0-9]{40}$`, components/rest_api.py), so the gateway and the
/// code agree on every header; `app/token-cases.json` holds the cases both are tested against.
/// The scheme is `Bearer` with one space; nothing is trimmed.
pub fn parse_authorization(header: Option<&str>) -> Result<ParsedToken, HeaderError> {
    let header = header.filter(|h| !h.is_empty()).ok_or(HeaderError::Missing)?;
    let token = header.strip_prefix("Bearer ").ok_or(HeaderError::Scheme)?;
    Ok(token::parse(token)?)
}

/// Decides on a presented token given what the store returned for its id. Pure: `now` is passed.
/// A record whose hash differs is treated as unknown (someone guessed an id).
pub fn decide(
    presented: &ParsedToken,
    record: Option<&TokenRecord>,
    now: DateTime<Utc>,
    table: &RouteTable,
) -> Decision {
    let Some(rec) = record.filter(|r| r.id == presented.id() && token::hashes_match(&r.token_sha256, &presented.sha256()))
    else {
        return Decision::Deny(DenyReason::Unknown);
    };
    if rec.revoked_at.is_some_and(|t| t <= now) {
        return Decision::Deny(DenyReason::Revoked);
    }
    if rec.expires_at.is_some_and(|t| t <= now) {
        return Decision::Deny(DenyReason::Expired);
    }
    if table.granted(&rec.scopes).next().is_none() {
        return Decision::Deny(DenyReason::NoRoutes);
    }
    Decision::Allow(Grant { token_id: rec.id.clone(), owner: rec.owner.clone(), scopes: rec.scopes.clone() })
}

/// An execute-api method ARN: `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodArn {
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}`.
    prefix: String,
}

impl MethodArn {
    pub fn parse(arn: &str) -> Result<Self, AuthorizeError> {
        let bad = || AuthorizeError::MethodArn(crate::validate::excerpt(arn));
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [arn_lit, partition, service, region, account, rest] = parts[..] else { return Err(bad()) };
        let ok_word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if arn_lit != "arn" || !ok_word(partition) || service != "execute-api" || !ok_word(region) || !ok_word(account) {
            return Err(bad());
        }
        let mut seg = rest.splitn(4, '/');
        let (Some(api), Some(stage), Some(_method)) = (seg.next(), seg.next(), seg.next()) else { return Err(bad()) };
        if !ok_word(api) || stage.is_empty() || stage.contains('*') {
            return Err(bad());
        }
        Ok(Self { prefix: format!("arn:{partition}:execute-api:{region}:{account}:{api}/{stage}") })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The ARN of one route: `{prefix}/{METHOD}/{path with params as *}`.
    pub fn route_arn(&self, route: &Route) -> String {
        format!("{}/{}", self.prefix, route.arn_suffix())
    }

    /// Every method and path of this API stage (what a `Deny` covers).
    pub fn all_arn(&self) -> String {
        format!("{}/*/*", self.prefix)
    }
}

/// The authorizer cannot decide; it must not return `Allow`. `Unauthorized` maps to API Gateway's
/// 401; the others surface as an invocation error (API Gateway's 500, not cached).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    /// Exactly the string API Gateway maps to 401.
    #[error("Unauthorized")]
    Unauthorized,
    #[error("methodArn is not an execute-api method ARN: {0}")]
    MethodArn(String),
    #[error("token store unavailable: {0}")]
    Store(String),
}

/// The policy the TOKEN authorizer returns: an `Allow` statement and a `Deny` statement, each
/// omitted when it would be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    pub principal_id: String,
    /// Resources of the `Allow` statement: one ARN per granted route. Empty on a refusal.
    pub allow: Vec<String>,
    /// Resources of the `Deny` statement: on a refusal the whole stage; on a grant, the routes
    /// a granted route's `*` would otherwise also admit ([`RouteTable::denied_for`]).
    pub deny: Vec<String>,
    /// Authorizer context (string values only): `scopes`, `token_id`; empty on `Deny`.
    pub context: Vec<(String, String)>,
    /// Why, for the log (never returned to the client).
    pub reason: &'static str,
}

impl PolicyOutcome {
    /// Whether the token was accepted (some route is allowed).
    pub fn allows(&self) -> bool {
        !self.allow.is_empty()
    }
}

/// The whole TOKEN-authorizer decision: header, methodArn, lookup, decision, policy.
///
/// API Gateway caches the policy per token and evaluates it against every later request with
/// that token, with `*` in a resource matching any characters, `/` included, and an explicit
/// `Deny` winning. So on `Allow` the policy allows every route the token's scopes grant (not
/// only the route being called) and explicitly denies each route it is not granted that one of
/// those `*`s would also match: it grants exactly the token's routes, whatever is called next.
pub fn authorize<E: std::fmt::Display>(
    authorization: Option<&str>,
    method_arn: Option<&str>,
    lookup: impl FnOnce(&str) -> Result<Option<TokenRecord>, E>,
    now: DateTime<Utc>,
    table: &RouteTable,
) -> Result<PolicyOutcome, AuthorizeError> {
    let presented = parse_authorization(authorization).map_err(|_| AuthorizeError::Unauthorized)?;
    let arn = MethodArn::parse(method_arn.unwrap_or(""))?;
    let record = lookup(presented.id()).map_err(|e| AuthorizeError::Store(e.to_string()))?;
    Ok(match decide(&presented, record.as_ref(), now, table) {
        Decision::Allow(grant) => PolicyOutcome {
            allow: table.granted(&grant.scopes).map(|r| arn.route_arn(r)).collect(),
            deny: table.denied_for(&grant.scopes).map(|r| arn.route_arn(r)).collect(),
            context: vec![("scopes".into(), grant.scopes_string()), ("token_id".into(), grant.token_id.clone())],
            principal_id: grant.owner,
            reason: "valid token",
        },
        Decision::Deny(why) => PolicyOutcome {
            allow: Vec::new(),
            // A guessed id with the wrong secret does not learn (or log) whose id it is.
            principal_id: match (why, record) {
                (DenyReason::Unknown, _) | (_, None) => "unknown".into(),
                (_, Some(r)) => r.owner,
            },
            deny: vec![arn.all_arn()],
            context: Vec::new(),
            reason: why.as_str(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const ARN: &str = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/devices/sensor-1";

    fn record(t: &ParsedToken, scopes: &[&str]) -> TokenRecord {
        TokenRecord {
            id: t.id().into(),
            token_sha256: t.sha256(),
            owner: "alice".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            created_at: Utc::now() - Duration::days(1),
            expires_at: None,
            revoked_at: None,
        }
    }

    fn run(header: Option<&str>, rec: Option<TokenRecord>) -> Result<PolicyOutcome, AuthorizeError> {
        authorize(header, Some(ARN), |_| Ok::<_, String>(rec), Utc::now(), RouteTable::embedded())
    }

    #[test]
    fn header_parsing() {
        let t = token::generate();
        assert_eq!(parse_authorization(Some(&format!("Bearer {}", t.expose()))).unwrap(), t);
        assert_eq!(parse_authorization(Some(&format!("bearer {}", t.expose()))), Err(HeaderError::Scheme));
        assert!(parse_authorization(Some(&format!("Bearer  {}", t.expose()))).is_err());
        assert_eq!(parse_authorization(None), Err(HeaderError::Missing));
        assert_eq!(parse_authorization(Some("")), Err(HeaderError::Missing));
        assert_eq!(parse_authorization(Some("  ")), Err(HeaderError::Scheme));
        assert_eq!(parse_authorization(Some(t.expose())), Err(HeaderError::Scheme));
        assert_eq!(parse_authorization(Some(&format!("Basic {}", t.expose()))), Err(HeaderError::Scheme));
        assert!(matches!(parse_authorization(Some("Bearer x' OR 1=1--")), Err(HeaderError::Token(_))));
        assert!(matches!(parse_authorization(Some(&format!("Bearer {} extra", t.expose()))), Err(HeaderError::Token(_))));
    }

    /// Every header of app/token-cases.json, the list the gateway's identity validation
    /// expression is also tested against (tests/components/test_rest_api.py).
    #[test]
    fn header_parsing_agrees_with_the_shared_cases() {
        #[derive(serde::Deserialize)]
        struct Case {
            header: String,
        }
        #[derive(serde::Deserialize)]
        struct Cases {
            valid: Vec<Case>,
            invalid: Vec<Case>,
        }
        let cases: Cases = serde_json::from_str(include_str!("../../token-cases.json")).unwrap();
        assert!(cases.valid.len() >= 3 && cases.invalid.len() >= 20);
        for c in &cases.valid {
            assert!(parse_authorization(Some(&c.header)).is_ok(), "valid case refused: {:?}", c.header);
        }
        for c in &cases.invalid {
            assert!(parse_authorization(Some(&c.header)).is_err(), "invalid case accepted: {:?}", c.header);
        }
    }

    #[test]
    fn allow_lists_exactly_granted_routes() {
        let t = token::generate();
        let out = run(Some(&format!("Bearer {}", t.expose())), Some(record(&t, &["devices:read", "images:read"]))).unwrap();
        assert!(out.allows());
        assert_eq!(out.principal_id, "alice");
        let p = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod";
        assert_eq!(out.allow, [format!("{p}/GET/devices"), format!("{p}/GET/devices/*"), format!("{p}/GET/images")]);
        // GET/devices/* would also admit GET /devices/{device_id}/commands (commands:read)
        assert_eq!(out.deny, [format!("{p}/GET/devices/*/commands")]);
        assert_eq!(out.context[0], ("scopes".to_string(), "devices:read images:read".to_string()));
        assert_eq!(out.context[1], ("token_id".to_string(), t.id().to_string()));
    }

    #[test]
    fn deny_cases() {
        let t = token::generate();
        let header = format!("Bearer {}", t.expose());
        let now = Utc::now();
        let all = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*";

        let unknown = run(Some(&header), None).unwrap();
        assert!(!unknown.allows());
        assert_eq!((unknown.reason, unknown.deny.as_slice()), ("unknown token", [all.to_string()].as_slice()));
        assert!(unknown.context.is_empty());

        let mut wrong_hash = record(&t, &["devices:read"]);
        wrong_hash.token_sha256 = token::hash("something else");
        let guessed = run(Some(&header), Some(wrong_hash)).unwrap();
        assert_eq!((guessed.reason, guessed.principal_id.as_str()), ("unknown token", "unknown"));

        let mut revoked = record(&t, &["devices:read"]);
        revoked.revoked_at = Some(now - Duration::seconds(1));
        assert_eq!(run(Some(&header), Some(revoked)).unwrap().reason, "revoked token");

        let mut expired = record(&t, &["devices:read"]);
        expired.expires_at = Some(now - Duration::seconds(1));
        assert_eq!(run(Some(&header), Some(expired)).unwrap().reason, "expired token");

        let mut future = record(&t, &["devices:read"]);
        future.expires_at = Some(now + Duration::hours(1));
        assert!(run(Some(&header), Some(future)).unwrap().allows());

        let none = run(Some(&header), Some(record(&t, &["nothing:here"]))).unwrap();
        assert_eq!((none.allows(), none.reason), (false, "token grants no route"));
    }

    #[test]
    fn errors_never_allow() {
        let t = token::generate();
        let header = format!("Bearer {}", t.expose());
        assert_eq!(run(None, None), Err(AuthorizeError::Unauthorized));
        assert_eq!(run(Some("Bearer nope"), None), Err(AuthorizeError::Unauthorized));
        assert_eq!(run(Some("Basic Zm9vOmJhcg=="), None), Err(AuthorizeError::Unauthorized));
        assert_eq!(AuthorizeError::Unauthorized.to_string(), "Unauthorized");
        let down = authorize(Some(&header), Some(ARN), |_| Err::<Option<TokenRecord>, _>("connection refused"), Utc::now(), RouteTable::embedded());
        assert_eq!(down, Err(AuthorizeError::Store("connection refused".into())));
        for arn in [None, Some(""), Some("arn:aws:s3:::bucket"), Some("arn:aws:execute-api:r:1:api"), Some("arn:aws:execute-api:r:1:api/*/GET/x")] {
            let out = authorize(Some(&header), arn, |_| Ok::<_, String>(None), Utc::now(), RouteTable::embedded());
            assert!(matches!(out, Err(AuthorizeError::MethodArn(_))), "{arn:?}: {out:?}");
        }
    }

    #[test]
    fn method_arn_prefix() {
        let a = MethodArn::parse("arn:aws-cn:execute-api:cn-north-1:123:api1/dev/POST/").unwrap();
        assert_eq!(a.prefix(), "arn:aws-cn:execute-api:cn-north-1:123:api1/dev");
        assert_eq!(a.all_arn(), "arn:aws-cn:execute-api:cn-north-1:123:api1/dev/*/*");
    }
}
