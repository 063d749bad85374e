//! Building a libpq connection string from the parts the environment gives
//! (docs/contracts.md section 3), quoting every value so no character of a password can change
//! its meaning.

use std::fmt;

/// The parts of a libpq connection. `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: String,
    /// libpq `sslmode`: `disable`, `allow`, `prefer`, `require`, `verify-ca` or `verify-full`.
    pub sslmode: String,
    /// libpq `connect_timeout`, seconds.
    pub connect_timeout_s: u32,
}

pub const SSLMODES: [&str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

impl ConnInfo {
    /// The keyword/value string libpq parses.
    pub fn to_conninfo(&self) -> String {
        format!(
            "host={} port={} dbname={} user={} password={} sslmode={} connect_timeout={} application_name='fleet'",
            quote(&self.host),
            self.port,
            quote(&self.dbname),
            quote(&self.user),
            quote(&self.password),
            quote(&self.sslmode),
            self.connect_timeout_s,
        )
    }
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnInfo")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &"***")
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_every_value_and_hides_password() {
        let c = ConnInfo {
            host: "db.example".into(),
            port: 5432,
            dbname: "fleet".into(),
            user: "app".into(),
            password: r"p'w\ x sslmode=disable".into(),
            sslmode: "require".into(),
            connect_timeout_s: 5,
        };
        assert_eq!(
            c.to_conninfo(),
            r"host='db.example' port=5432 dbname='fleet' user='app' password='p\'w\\ x sslmode=disable' sslmode='require' connect_timeout=5 application_name='fleet'"
        );
        assert!(!format!("{c:?}").contains("p'w"));
    }
}
