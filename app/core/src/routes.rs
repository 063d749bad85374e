//! The route table `app/routes.json` (docs/contracts.md section 1): the one source for API
//! Gateway's resources, the handler's and the server's routers, and the authorizer's policy.

use serde::Deserialize;
use std::sync::LazyLock;

/// The table as shipped, embedded at compile time.
pub const ROUTES_JSON: &str = include_str!("../../routes.json");

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One API Gateway resource + method.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The API Gateway resource path, e.g. `/devices/{device_id}`.
    pub path: String,
    /// The token scope that grants it, e.g. `devices:read`.
    pub scope: String,
}

impl Route {
    /// `GET/devices/*`: the method and path as they appear in an execute-api ARN, each `{param}`
    /// segment replaced by `*`.
    pub fn arn_suffix(&self) -> String {
        let segments: Vec<&str> = self
            .path
            .split('/')
            .skip(1)
            .map(|s| if s.starts_with('{') { "*" } else { s })
            .collect();
        format!("{}/{}", self.method, segments.join("/"))
    }

    /// The names of the path's `{param}` segments, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }

    fn segments(&self) -> Vec<Segment<'_>> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| if s.starts_with('{') { Segment::Param } else { Segment::Literal(s) })
            .collect()
    }

    /// Whether this route's ARN pattern ([`Route::arn_suffix`]) matches the execute-api ARN of
    /// some request that API Gateway routes to `other`. `*` in an execute-api ARN matches any
    /// characters, `/` included, so `GET/devices/*` also matches `GET/devices/d1/commands`; a
    /// request's path parameter is one non-empty segment and may equal any literal (so the
    /// answer errs on the side of "matches").
    pub fn pattern_matches_requests_of(&self, other: &Route) -> bool {
        self.method == other.method && covers(&self.segments(), &other.segments())
    }
}

/// A path segment as API Gateway matches it: a literal, or a `{param}` (in a policy ARN: `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Literal(&'a str),
    Param,
}

/// Can the pattern (literals, and `*` for each param) match some request of the template?
/// A pattern's `*` sits between two literal `/` (or ends the ARN), and a request's segments are
/// non-empty, so each `*` takes one or more whole segments; a pattern literal takes exactly one
/// segment, which must be that literal or a parameter (whose value could be that literal).
fn covers(pattern: &[Segment<'_>], template: &[Segment<'_>]) -> bool {
    match pattern.split_first() {
        None => template.is_empty(),
        Some((Segment::Param, rest)) => (1..=template.len()).any(|k| covers(rest, &template[k..])),
        Some((Segment::Literal(l), rest)) => match template.split_first() {
            Some((first, tail)) => (*first == Segment::Param || *first == Segment::Literal(l)) && covers(rest, tail),
            None => false,
        },
    }
}

/// The result of looking up `(method, resource)`.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    Found(&'a Route),
    /// The resource exists with other methods (listed, for the `Allow` header).
    MethodNotAllowed(Vec<&'a str>),
    NotFound,
}

/// A validated route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    version: u32,
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    routes: Vec<Route>,
}

fn valid_segment(s: &str) -> bool {
    if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    } else {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    }
}

/// Refuses a table for which the authorizer could not return a policy that grants exactly a
/// token's routes (see [`RouteTable::denied_for`]): a route `denied` that some route of another
/// scope shadows needs a `Deny` for tokens without its scope, and that `Deny` must not match a
/// request of any route with another scope, which such a token may hold.
fn check_policy_exactness(routes: &[Route]) -> Result<(), String> {
    for denied in routes {
        let Some(shadow) = routes.iter().find(|r| r.scope != denied.scope && r.pattern_matches_requests_of(denied)) else {
            continue;
        };
        if let Some(hit) = routes.iter().find(|r| r.scope != denied.scope && denied.pattern_matches_requests_of(r)) {
            return Err(format!(
                "routes.json: route {} {} ({}) cannot be granted exactly at API Gateway: `*` in an execute-api ARN matches `/`, \
                 so the ARN of {} {} ({}) also matches it and a token without {} needs a Deny for it, and that Deny would also \
                 match {} {} ({}); give {} and {} the same scope or change a path segment",
                denied.method, denied.path, denied.scope, shadow.method, shadow.path, shadow.scope, denied.scope,
                hit.method, hit.path, hit.scope, denied.path, hit.path
            ));
        }
    }
    Ok(())
}

impl RouteTable {
    /// Parses and validates a route table document; the error names the route and the rule.
    pub fn parse(json: &str) -> Result<Self, String> {
        let file: RouteFile =
            serde_json::from_str(json).map_err(|e| format!("routes.json: not a route table: {e}"))?;
        if file.version != 1 {
            return Err(format!("routes.json: version must be 1, got {}", file.version));
        }
        let mut seen = std::collections::HashSet::new();
        for r in &file.routes {
            let at = format!("routes.json: route {} {}", r.method, r.path);
            if !METHODS.contains(&r.method.as_str()) {
                return Err(format!("{at}: method must be one of {METHODS:?}"));
            }
            if r.path != "/" && !(r.path.starts_with('/') && r.path.split('/').skip(1).all(valid_segment)) {
                return Err(format!(
                    "{at}: path must start with '/' and have segments [a-z0-9_-]+ or {{[a-z_][a-z0-9_]*}}"
                ));
            }
            crate::validate::scope(&r.scope).map_err(|e| format!("{at}: {e}"))?;
            if !seen.insert((r.method.clone(), r.path.clone())) {
                return Err(format!("{at}: listed twice"));
            }
        }
        check_policy_exactness(&file.routes)?;
        Ok(Self { routes: file.routes })
    }

    /// The table embedded from `app/routes.json`. Its validity is checked by a unit test, so
    /// the `expect` cannot fire in a binary that passed `cargo test`.
    pub fn embedded() -> &'static RouteTable {
        static TABLE: LazyLock<RouteTable> =
            LazyLock::new(|| RouteTable::parse(ROUTES_JSON).expect("app/routes.json is valid (unit-tested)"));
        &TABLE
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for API Gateway's `(httpMethod, resource)`.
    pub fn find(&self, method: &str, resource: &str) -> RouteMatch<'_> {
        let same_path: Vec<&Route> = self.routes.iter().filter(|r| r.path == resource).collect();
        match same_path.iter().find(|r| r.method == method) {
            Some(r) => RouteMatch::Found(r),
            None if same_path.is_empty() => RouteMatch::NotFound,
            None => RouteMatch::MethodNotAllowed(same_path.iter().map(|r| r.method.as_str()).collect()),
        }
    }

    /// The routes that any of `scopes` grants, in table order.
    pub fn granted<'a>(&'a self, scopes: &'a [String]) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes.iter().filter(move |r| scopes.iter().any(|s| *s == r.scope))
    }

    /// The routes a token granted `scopes` must be explicitly denied: those it is not granted
    /// whose requests the ARN pattern of a granted route also matches (API Gateway's `*` spans
    /// `/`). [`RouteTable::parse`] guarantees such a `Deny` matches no granted route's request.
    pub fn denied_for<'a>(&'a self, scopes: &'a [String]) -> impl Iterator<Item = &'a Route> + 'a {
        let granted: Vec<&Route> = self.granted(scopes).collect();
        self.routes.iter().filter(move |r| {
            !scopes.iter().any(|s| *s == r.scope) && granted.iter().any(|g| g.pattern_matches_requests_of(r))
        })
    }

    /// Distinct resource paths, in table order (for routers that group methods per path).
    pub fn paths(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.routes {
            if !out.contains(&r.path.as_str()) {
                out.push(&r.path);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_is_valid_and_non_empty() {
        let t = RouteTable::parse(ROUTES_JSON).unwrap();
        assert!(!t.routes().is_empty());
        assert_eq!(RouteTable::embedded(), &t);
    }

    #[test]
    fn arn_suffix_stars_params() {
        let r = Route { method: "POST".into(), path: "/devices/{device_id}/tags".into(), scope: "a:b".into() };
        assert_eq!(r.arn_suffix(), "POST/devices/*/tags");
        assert_eq!(r.params().collect::<Vec<_>>(), ["device_id"]);
        let root = Route { method: "GET".into(), path: "/".into(), scope: "a:b".into() };
        assert_eq!(root.arn_suffix(), "GET/");
    }

    #[test]
    fn find_distinguishes_404_and_405() {
        let t = RouteTable::embedded();
        assert!(matches!(t.find("GET", "/devices"), RouteMatch::Found(r) if r.scope == "devices:read"));
        assert_eq!(t.find("DELETE", "/devices"), RouteMatch::MethodNotAllowed(vec!["GET", "POST"]));
        assert_eq!(t.find("GET", "/nope"), RouteMatch::NotFound);
        assert_eq!(t.find("get", "/devices"), RouteMatch::MethodNotAllowed(vec!["GET", "POST"]));
    }

    #[test]
    fn granted_filters_by_scope() {
        let t = RouteTable::embedded();
        let scopes = vec!["images:read".to_string()];
        let g: Vec<_> = t.granted(&scopes).map(|r| r.path.as_str()).collect();
        assert_eq!(g, ["/images"]);
        assert_eq!(t.granted(&[]).count(), 0);
    }

    fn route(method: &str, path: &str, scope: &str) -> Route {
        Route { method: method.into(), path: path.into(), scope: scope.into() }
    }

    #[test]
    fn patterns_span_slashes() {
        let by_id = route("GET", "/devices/{device_id}", "a:r");
        let commands = route("GET", "/devices/{device_id}/commands", "b:r");
        let list = route("GET", "/devices", "a:r");
        assert!(by_id.pattern_matches_requests_of(&commands), "GET/devices/* matches GET/devices/d/commands");
        assert!(!commands.pattern_matches_requests_of(&by_id));
        assert!(!by_id.pattern_matches_requests_of(&list));
        assert!(!list.pattern_matches_requests_of(&by_id));
        assert!(!by_id.pattern_matches_requests_of(&route("POST", "/devices/{device_id}/commands", "b:r")));
        // a literal pattern segment may meet a parameter of the same position
        assert!(route("GET", "/devices/search", "c:r").pattern_matches_requests_of(&by_id));
        assert!(route("GET", "/{a}/x/{b}", "c:r").pattern_matches_requests_of(&route("GET", "/p/q/x/r/s", "d:r")));
        assert!(!route("GET", "/{a}/x", "c:r").pattern_matches_requests_of(&route("GET", "/p/q/y", "d:r")));
    }

    #[test]
    fn denied_for_lists_shadowed_routes_only() {
        let t = RouteTable::embedded();
        let read = vec!["devices:read".to_string()];
        let denied: Vec<_> = t.denied_for(&read).map(|r| format!("{} {}", r.method, r.path)).collect();
        assert_eq!(denied, ["GET /devices/{device_id}/commands"]);
        let both = vec!["devices:read".to_string(), "commands:read".to_string()];
        assert_eq!(t.denied_for(&both).count(), 0);
        assert_eq!(t.denied_for(&[]).count(), 0);
    }

    #[test]
    fn refuses_a_table_no_policy_can_express() {
        let doc = |routes: &[(&str, &str, &str)]| {
            let items: Vec<String> = routes
                .iter()
                .map(|(m, p, s)| format!(r#"{{"method":"{m}","path":"{p}","scope":"{s}"}}"#))
                .collect();
            format!(r#"{{"version":1,"routes":[{}]}}"#, items.join(","))
        };
        // GET /a/{x}/b/{y} must be denied to a holder of a:r, and a Deny of GET/a/*/b/* matches GET/a/1/b/2/c.
        let bad = doc(&[("GET", "/a/{x}", "a:r"), ("GET", "/a/{x}/b/{y}", "b:r"), ("GET", "/a/{x}/b/{y}/c", "c:r")]);
        let err = RouteTable::parse(&bad).unwrap_err();
        assert!(err.contains("GET /a/{x}/b/{y} (b:r) cannot be granted exactly"), "{err}");
        assert!(err.contains("GET /a/{x}/b/{y}/c (c:r)"), "{err}");
        // the same routes with the deeper two sharing a scope are fine
        assert!(RouteTable::parse(&doc(&[("GET", "/a/{x}", "a:r"), ("GET", "/a/{x}/b/{y}", "b:r"), ("GET", "/a/{x}/b/{y}/c", "b:r")])).is_ok());
    }

    #[test]
    fn parse_rejects_each_rule() {
        let doc = |m: &str, p: &str, s: &str| {
            format!(r#"{{"version":1,"routes":[{{"method":"{m}","path":"{p}","scope":"{s}"}}]}}"#)
        };
        assert!(RouteTable::parse(&doc("GET", "/a/{b}", "a:b")).is_ok());
        let cases = [
            (doc("HEAD", "/a", "a:b"), "method must be one of"),
            (doc("GET", "a", "a:b"), "path must start with"),
            (doc("GET", "/A", "a:b"), "path must start with"),
            (doc("GET", "/a/{B}", "a:b"), "path must start with"),
            (doc("GET", "/a//b", "a:b"), "path must start with"),
            (doc("GET", "/a", "ab"), "invalid scope"),
            (r#"{"version":2,"routes":[]}"#.to_string(), "version must be 1"),
            (r#"{"version":1}"#.to_string(), "not a route table"),
            (
                r#"{"version":1,"routes":[{"method":"GET","path":"/a","scope":"a:b"},{"method":"GET","path":"/a","scope":"a:b"}]}"#.to_string(),
                "listed twice",
            ),
        ];
        for (json, want) in cases {
            let err = RouteTable::parse(&json).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
    }
}
