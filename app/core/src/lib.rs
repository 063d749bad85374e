//! The device-fleet domain, free of Lambda, HTTP and AWS: API tokens (stored hashed), scopes, the
//! route table and the authorizer's decision, devices, commands, tags, container images, and the
//! validation of every input a client can send.
//!
//! Everything here is a pure function of its arguments (the clock is passed in), so it is
//! unit-tested without a database.

pub mod auth;
pub mod model;
pub mod routes;
pub mod token;
pub mod validate;

pub use auth::{AuthorizeError, Decision, DenyReason, Grant, MethodArn, PolicyOutcome, TokenRecord};
pub use routes::{Route, RouteMatch, RouteTable};
pub use token::{ParsedToken, TokenError};
pub use validate::ValidationError;
