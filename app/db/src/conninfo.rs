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
    /// libpq `sslrootcert`: the CA certificates (PEM) that `verify-ca`/`verify-full` check the
    /// server's certificate against (`DB_SSLROOTCERT`; the artifacts ship the Amazon RDS CAs at
    /// `certs/rds-ca-bundle.pem`). `None`: libpq's default (`~/.postgresql/root.crt`).
    pub sslrootcert: Option<String>,
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

/// `DB_SSLMODE` and `DB_SSLROOTCERT` read together: (sslmode, sslrootcert), `prefer` when unset.
///
/// Refused: an sslmode libpq does not know; a `DB_SSLROOTCERT` that is not a readable file (libpq
/// would fail every connection later, with a less clear message); `verify-ca` or `verify-full`
/// without `DB_SSLROOTCERT` (libpq would look for `~/.postgresql/root.crt`, which no Lambda or
/// container has). The message names the variable, the rule and the value; the caller adds where
/// to fix it.
pub fn tls_settings(sslmode: Option<String>, sslrootcert: Option<String>) -> Result<(String, Option<String>), String> {
    let sslmode = sslmode.filter(|s| !s.is_empty()).unwrap_or_else(|| "prefer".into());
    if !SSLMODES.contains(&sslmode.as_str()) {
        return Err(format!("DB_SSLMODE must be one of {}, got {sslmode:?}", SSLMODES.join(", ")));
    }
    let sslrootcert = sslrootcert.filter(|s| !s.is_empty());
    if let Some(path) = &sslrootcert
        && let Err(e) = std::fs::File::open(path)
    {
        return Err(format!(
            "DB_SSLROOTCERT must name a readable PEM file of CA certificates (the artifacts ship certs/rds-ca-bundle.pem), got {path:?} ({e})"
        ));
    }
    if sslrootcert.is_none() && sslmode.starts_with("verify-") {
        return Err(format!(
            "DB_SSLMODE={sslmode} needs DB_SSLROOTCERT, the CA certificates to verify the server with, got none (set it to /var/task/certs/rds-ca-bundle.pem on Lambda, /app/certs/rds-ca-bundle.pem in the server image)"
        ));
    }
    Ok((sslmode, sslrootcert))
}

impl ConnInfo {
    /// The keyword/value string libpq parses.
    pub fn to_conninfo(&self) -> String {
        let mut s = format!(
            "host={} port={} dbname={} user={} password={} sslmode={} connect_timeout={} application_name='fleet'",
            quote(&self.host),
            self.port,
            quote(&self.dbname),
            quote(&self.user),
            quote(&self.password),
            quote(&self.sslmode),
            self.connect_timeout_s,
        );
        if let Some(ca) = &self.sslrootcert {
            s.push_str(" sslrootcert=");
            s.push_str(&quote(ca));
        }
        s
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
            .field("sslrootcert", &self.sslrootcert)
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
            sslrootcert: None,
            connect_timeout_s: 5,
        };
        assert_eq!(
            c.to_conninfo(),
            r"host='db.example' port=5432 dbname='fleet' user='app' password='p\'w\\ x sslmode=disable' sslmode='require' connect_timeout=5 application_name='fleet'"
        );
        assert!(!format!("{c:?}").contains("p'w"));
        let verified = ConnInfo { sslmode: "verify-full".into(), sslrootcert: Some("/var/task/certs/rds ca's.pem".into()), ..c };
        assert!(
            verified.to_conninfo().ends_with(r" sslrootcert='/var/task/certs/rds ca\'s.pem'"),
            "{}",
            verified.to_conninfo()
        );
    }

    #[test]
    fn tls_settings_guards() {
        assert_eq!(tls_settings(None, None).unwrap(), ("prefer".to_string(), None));
        let file = std::env::current_exe().unwrap().display().to_string();
        assert_eq!(tls_settings(Some("verify-full".into()), Some(file.clone())).unwrap(), ("verify-full".to_string(), Some(file)));
        let e = tls_settings(Some("on".into()), None).unwrap_err();
        assert_eq!(e, "DB_SSLMODE must be one of disable, allow, prefer, require, verify-ca, verify-full, got \"on\"");
        let e = tls_settings(Some("verify-full".into()), Some("/nonexistent/ca.pem".into())).unwrap_err();
        assert!(e.starts_with("DB_SSLROOTCERT must name a readable PEM file of CA certificates (the artifacts ship certs/rds-ca-bundle.pem), got \"/nonexistent/ca.pem\" ("), "{e}");
        let e = tls_settings(Some("verify-ca".into()), None).unwrap_err();
        assert!(e.starts_with("DB_SSLMODE=verify-ca needs DB_SSLROOTCERT"), "{e}");
        assert!(tls_settings(Some("require".into()), None).is_ok());
    }
}
