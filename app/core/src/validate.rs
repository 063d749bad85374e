//! Validation of client input. Each rule is a small hand-written matcher (no regex engine: the
//! rules are simple and this keeps the Lambda binaries small).

use std::fmt;

/// A rejected input: names the field, the rule, the value received (quoted, truncated) and so
/// the fix. Its `Display` is the one-line message returned to the client with a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The JSON field or path parameter.
    pub field: String,
    /// The rule, phrased as what the value must be.
    pub rule: String,
    /// The offending value, escaped and truncated to 64 characters.
    pub got: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>, got: &str) -> Self {
        Self { field: field.into(), rule: rule.into(), got: excerpt(got) }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: must be {}; got {}", self.field, self.rule, self.got)
    }
}

impl std::error::Error for ValidationError {}

/// A printable excerpt of untrusted input: Rust-escaped (control characters visible, quotes
/// escaped) and cut at 64 characters, so a hostile value cannot forge log lines or bloat replies.
pub fn excerpt(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value.chars().take(MAX).collect::<String>().escape_debug().collect();
    out.insert(0, '"');
    out.push('"');
    if value.chars().count() > MAX {
        out.push_str(&format!(" (first {MAX} of {} characters)", value.chars().count()));
    }
    out
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `^[a-z0-9][a-z0-9-]{0,62}$`: a device id (also used in URLs, so no escaping ever needed).
pub fn device_id(value: &str) -> Result<(), ValidationError> {
    let ok = (1..=63).contains(&value.len())
        && value.chars().next().is_some_and(is_lower_alnum)
        && value.chars().all(|c| is_lower_alnum(c) || c == '-');
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new(
            "device_id",
            "1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit (e.g. \"sensor-42\")",
            value,
        )
    })
}

/// A human-readable name: 1 to 100 characters, no control characters, not blank.
pub fn display_name(field: &str, value: &str) -> Result<(), ValidationError> {
    let n = value.chars().count();
    let ok = (1..=100).contains(&n) && !value.trim().is_empty() && !value.chars().any(char::is_control);
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new(field, "1 to 100 printable characters, not blank", value)
    })
}

/// `^[a-z][a-z0-9_]{0,31}$`: a command name such as `reboot` or `set_interval`.
pub fn command_name(value: &str) -> Result<(), ValidationError> {
    let ok = (1..=32).contains(&value.len())
        && value.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && value.chars().all(|c| is_lower_alnum(c) || c == '_');
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new(
            "command",
            "1 to 32 characters of a-z, 0-9 and '_', starting with a letter (e.g. \"reboot\")",
            value,
        )
    })
}

/// `^[a-z][a-z0-9_.-]{0,62}$`: a tag key.
pub fn tag_key(value: &str) -> Result<(), ValidationError> {
    let ok = (1..=63).contains(&value.len())
        && value.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && value.chars().all(|c| is_lower_alnum(c) || matches!(c, '_' | '.' | '-'));
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new(
            "key",
            "1 to 63 characters of a-z, 0-9, '_', '.' and '-', starting with a letter (e.g. \"env\")",
            value,
        )
    })
}

/// A tag value: 0 to 256 characters, no control characters.
pub fn tag_value(value: &str) -> Result<(), ValidationError> {
    let ok = value.chars().count() <= 256 && !value.chars().any(char::is_control);
    ok.then_some(())
        .ok_or_else(|| ValidationError::new("value", "at most 256 printable characters", value))
}

/// An ECR repository name: 2 to 256 characters, lowercase segments of `[a-z0-9]` separated by
/// `.`, `_`, `-` or `/` (the rule ECR applies).
pub fn repository_name(value: &str) -> Result<(), ValidationError> {
    let bytes = value.as_bytes();
    let sep = |b: u8| matches!(b, b'.' | b'_' | b'-' | b'/');
    let ok = (2..=256).contains(&bytes.len())
        && bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || sep(b))
        && !sep(bytes[0])
        && !sep(bytes[bytes.len() - 1])
        && !value.contains("//");
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new(
            "repository-name",
            "an ECR repository name: 2 to 256 characters of a-z, 0-9 and '.', '_', '-', '/' between them",
            value,
        )
    })
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn image_digest(value: &str) -> Result<(), ValidationError> {
    let ok = value.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new("image-digest", "\"sha256:\" followed by 64 lowercase hex digits", value)
    })
}

/// `^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`: an image tag (the OCI rule).
pub fn image_tag(value: &str) -> Result<(), ValidationError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = (1..=128).contains(&value.len())
        && value.chars().next().is_some_and(word)
        && value.chars().all(|c| word(c) || c == '.' || c == '-');
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new(
            "image-tag",
            "1 to 128 characters of A-Z, a-z, 0-9, '_', '.' and '-', not starting with '.' or '-'",
            value,
        )
    })
}

/// A token owner (the authorizer's `principalId`): `^[a-z0-9][a-z0-9._@-]{0,127}$`.
pub fn owner(value: &str) -> Result<(), ValidationError> {
    let ok = (1..=128).contains(&value.len())
        && value.chars().next().is_some_and(is_lower_alnum)
        && value.chars().all(|c| is_lower_alnum(c) || matches!(c, '.' | '_' | '@' | '-'));
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new(
            "owner",
            "1 to 128 characters of a-z, 0-9, '.', '_', '@' and '-', starting with a letter or digit",
            value,
        )
    })
}

/// A scope: `resource:action`, each `[a-z]+` (e.g. `devices:read`).
pub fn scope(value: &str) -> Result<(), ValidationError> {
    let ok = value.len() <= 64
        && value.split_once(':').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.chars().chain(b.chars()).all(|c| c.is_ascii_lowercase())
        });
    ok.then_some(()).ok_or_else(|| {
        ValidationError::new("scope", "resource:action in lowercase letters (e.g. \"devices:read\")", value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids() {
        for ok in ["a", "sensor-42", "0", &"a".repeat(63)] {
            assert!(device_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a b", "a/b", "a'; DROP TABLE devices;--", "é", &"a".repeat(64), "../etc"] {
            assert!(device_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_names_field_rule_and_value() {
        let e = device_id("Bad Id").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid device_id: must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit (e.g. \"sensor-42\"); got \"Bad Id\""
        );
    }

    #[test]
    fn excerpt_escapes_and_truncates() {
        assert_eq!(excerpt("a\nb\"c"), "\"a\\nb\\\"c\"");
        let long = "x".repeat(100);
        assert!(excerpt(&long).ends_with("(first 64 of 100 characters)"));
    }

    #[test]
    fn names() {
        assert!(display_name("name", "Kitchen sensor").is_ok());
        assert!(display_name("name", "日本語の名前").is_ok());
        for bad in ["", "   ", "a\u{0}b", "line\nbreak", &"x".repeat(101)] {
            assert!(display_name("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commands_tags() {
        assert!(command_name("set_interval").is_ok());
        for bad in ["", "Reboot", "1x", "rm -rf", &"a".repeat(33)] {
            assert!(command_name(bad).is_err(), "{bad}");
        }
        assert!(tag_key("env.zone-1").is_ok());
        for bad in ["", "Env", "_x", "a b"] {
            assert!(tag_key(bad).is_err(), "{bad}");
        }
        assert!(tag_value("").is_ok());
        assert!(tag_value("<script>alert(1)</script>").is_ok(), "stored as data, returned as JSON");
        assert!(tag_value("\u{7}").is_err());
        assert!(tag_value(&"v".repeat(257)).is_err());
    }

    #[test]
    fn images() {
        assert!(repository_name("rust-on-aws/server").is_ok());
        for bad in ["a", "Upper", "/lead", "trail/", "a//b", "a b"] {
            assert!(repository_name(bad).is_err(), "{bad}");
        }
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert!(image_digest(&digest).is_ok());
        for bad in ["sha256:abc", "md5:00", &digest.to_uppercase(), &format!("{digest}0")] {
            assert!(image_digest(bad).is_err(), "{bad}");
        }
        assert!(image_tag("v1.2.3_rc-1").is_ok());
        for bad in ["", ".hidden", "-x", "a:b", &"t".repeat(129)] {
            assert!(image_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn owners_and_scopes() {
        assert!(owner("alice@example.com").is_ok());
        assert!(owner("Alice").is_err());
        assert!(owner("").is_err());
        assert!(scope("devices:read").is_ok());
        for bad in ["devices", ":read", "devices:", "Devices:read", "a:b:c", "devices:read "] {
            assert!(scope(bad).is_err(), "{bad}");
        }
    }
}
