//! The runtime role: a login role with no attribute beyond LOGIN, a member of no role, owner of
//! nothing, granted exactly what the application's queries need.
//!
//! Run as the master user (on RDS: not a superuser, but CREATEROLE and the owner of the
//! database). Role attributes are only changed when they are wrong, because PostgreSQL 15 lets
//! only a superuser *mention* REPLICATION or BYPASSRLS in `ALTER ROLE`, even to turn them off.

use crate::MigrateError;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

/// The runtime role's default name (`DB_APP_USERNAME`).
pub const DEFAULT_ROLE: &str = "fleet_app";

/// What a valid role name looks like, for error messages.
pub const NAME_RULE: &str = "a PostgreSQL role name of 1 to 63 characters a-z, 0-9 and _, starting with a letter or _, not pg_* and not public, none, current_role, current_user or session_user";

/// Checks a role name. Names that pass are used quoted (`"name"`), which for these characters
/// is exactly the unquoted, lower-case name: nothing in them can end the identifier.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first_ok
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with("pg_")
        && !["public", "none", "current_role", "current_user", "session_user"].contains(&name)
}

/// `"name"`: an identifier quoted for SQL (double quotes doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal for SQL, the way PostgreSQL's `quote_literal()` writes it: quotes doubled,
/// and an `E'...'` literal with backslashes doubled when there are any, so the result means the
/// same whatever `standard_conforming_strings` is.
pub fn quote_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    if quoted.contains('\\') { format!("E'{}'", quoted.replace('\\', "\\\\")) } else { format!("'{quoted}'") }
}

#[derive(QueryableByName, Debug)]
struct Attributes {
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolcreatedb: bool,
    #[diesel(sql_type = Bool)]
    rolcreaterole: bool,
    #[diesel(sql_type = Bool)]
    rolcanlogin: bool,
    #[diesel(sql_type = Bool)]
    rolreplication: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Owned {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn db_error(what: &str) -> impl FnOnce(diesel::result::Error) -> MigrateError + '_ {
    move |e| MigrateError::Database(format!("{what} failed: {e}"))
}

const ATTRIBUTES: &str = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS";

/// Creates the role, or corrects its attributes; refuses a role that is a member of another or
/// owns anything; then grants it exactly what the application needs in `dbname`.
pub fn ensure(conn: &mut PgConnection, role: &str, dbname: &str, master: &str) -> Result<(), MigrateError> {
    if !valid_name(role) {
        return Err(MigrateError::Role(format!("DB_APP_USERNAME must be {NAME_RULE}, got {role:?}: fix the function's environment")));
    }
    if role == master {
        return Err(MigrateError::Role(format!(
            "DB_APP_USERNAME is {role:?}, the master user of the master secret: the runtime role must be another role; set DB_APP_USERNAME to another name (default {DEFAULT_ROLE})"
        )));
    }
    let ident = quote_ident(role);
    let found: Option<Attributes> = diesel::sql_query(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1",
    )
    .bind::<Text, _>(role)
    .get_result(conn)
    .map(Some)
    .or_else(|e| if e == diesel::result::Error::NotFound { Ok(None) } else { Err(e) })
    .map_err(db_error("reading the runtime role"))?;
    match found {
        None => {
            diesel::sql_query(format!("CREATE ROLE {ident} {ATTRIBUTES}")).execute(conn).map_err(db_error("CREATE ROLE"))?;
            tracing::info!(role, "created the runtime role");
        }
        Some(a) => {
            let wrong: Vec<&str> = [
                (a.rolsuper, "NOSUPERUSER"),
                (a.rolcreatedb, "NOCREATEDB"),
                (a.rolcreaterole, "NOCREATEROLE"),
                (!a.rolcanlogin, "LOGIN"),
                (a.rolreplication, "NOREPLICATION"),
                (a.rolbypassrls, "NOBYPASSRLS"),
            ]
            .into_iter()
            .filter_map(|(bad, fix)| bad.then_some(fix))
            .collect();
            if !wrong.is_empty() {
                let fix = wrong.join(" ");
                diesel::sql_query(format!("ALTER ROLE {ident} {fix}")).execute(conn).map_err(|e| {
                    MigrateError::Role(format!(
                        "the runtime role {role} needs ALTER ROLE {role} {fix} and the master user {master} may not run it ({e}); run it as a superuser, then invoke migrate again"
                    ))
                })?;
                tracing::warn!(role, fix, "corrected the runtime role's attributes");
            }
        }
    }
    check_memberships(conn, role)?;
    check_ownership(conn, role, master)?;
    grant(conn, role, dbname)
}

fn check_memberships(conn: &mut PgConnection, role: &str) -> Result<(), MigrateError> {
    let groups: Vec<Name> = diesel::sql_query(
        "SELECT g.rolname::text AS name FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
         JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1",
    )
    .bind::<Text, _>(role)
    .load(conn)
    .map_err(db_error("reading the runtime role's memberships"))?;
    if groups.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = groups.into_iter().map(|g| g.name).collect();
    Err(MigrateError::Role(format!(
        "the runtime role {role} is a member of {}: it would hold their privileges too, and must be a member of no role; run REVOKE {} FROM {role}, then invoke migrate again",
        names.join(", "),
        names.join(", ")
    )))
}

fn check_ownership(conn: &mut PgConnection, role: &str, master: &str) -> Result<(), MigrateError> {
    // pg_shdepend records the owner of every object in every database (deptype 'o').
    let owned: Vec<Owned> = diesel::sql_query(
        "SELECT d.classid::regclass::text AS kind, count(*) AS n FROM pg_shdepend d \
         JOIN pg_roles r ON r.oid = d.refobjid AND d.refclassid = 'pg_authid'::regclass \
         WHERE r.rolname = $1 AND d.deptype = 'o' GROUP BY 1 ORDER BY 1",
    )
    .bind::<Text, _>(role)
    .load(conn)
    .map_err(db_error("reading what the runtime role owns"))?;
    if owned.is_empty() {
        return Ok(());
    }
    let what: Vec<String> = owned.iter().map(|o| format!("{} in {}", o.n, o.kind)).collect();
    Err(MigrateError::Role(format!(
        "the runtime role {role} owns objects ({}): an owner may ALTER, DROP and TRUNCATE them, so it must own none; run REASSIGN OWNED BY {role} TO {master} in each database concerned, then invoke migrate again",
        what.join(", ")
    )))
}

/// The privileges, in one transaction: CONNECT on the database; USAGE on schema public; SELECT,
/// INSERT, UPDATE, DELETE on its tables and USAGE, SELECT on its sequences, now and (default
/// privileges) for those the master creates later. Nobody but the owner may create in public, or
/// create temporary tables in the database. The migrations' bookkeeping table is read-only.
fn grant(conn: &mut PgConnection, role: &str, dbname: &str) -> Result<(), MigrateError> {
    let (r, db) = (quote_ident(role), quote_ident(dbname));
    let statements = [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_string(),
        format!("REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC"),
        format!("GRANT CONNECT ON DATABASE {db} TO {r}"),
        format!("GRANT USAGE ON SCHEMA public TO {r}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}"),
        format!("REVOKE INSERT, UPDATE, DELETE ON TABLE public.__diesel_schema_migrations FROM {r}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {r}"),
    ];
    conn.transaction(|c| {
        for sql in &statements {
            diesel::sql_query(sql).execute(c).map_err(db_error(sql))?;
        }
        Ok(())
    })
}

/// Sets the role's password: the SCRAM verifier goes to the server, never the password itself.
pub fn set_password(conn: &mut PgConnection, role: &str, password: &str) -> Result<(), MigrateError> {
    if !crate::scram::is_plain(password) {
        return Err(MigrateError::Rotation(format!(
            "the password for {role} must be printable ASCII (PostgreSQL would SASLprep anything else), got {} characters with others in them; remove the app secret's AWSPENDING label and invoke migrate with {{\"rotate\": true}}",
            password.chars().count()
        )));
    }
    let verifier = crate::scram::new_verifier(password);
    diesel::sql_query(format!("ALTER ROLE {} PASSWORD {}", quote_ident(role), quote_literal(&verifier)))
        .execute(conn)
        .map_err(|e| MigrateError::Database(format!("ALTER ROLE {role} PASSWORD failed: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        for ok in ["fleet_app", "_x", "a", "app2", &"a".repeat(63)] {
            assert!(valid_name(ok), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in ["", "Fleet", "2app", "app-1", "app name", "a\"b", "pg_app", "public", "none", "current_user", long.as_str(), "fleet_app; DROP"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn literals_and_identifiers() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\'b"), r"E'a\\''b'");
        assert_eq!(quote_ident("fleet_app"), "\"fleet_app\"");
    }
}
