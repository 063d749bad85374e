//! The domain's records and the request bodies clients send, each with its validation.

use crate::validate::{self, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest serialized command payload, in bytes.
pub const MAX_COMMAND_PAYLOAD_BYTES: usize = 4096;
/// Most tags one device may carry.
pub const MAX_TAGS_PER_DEVICE: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub tags: BTreeMap<String, String>,
}

/// `POST /devices` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    pub id: String,
    pub name: String,
}

impl CreateDevice {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::device_id(&self.id)?;
        validate::display_name("name", &self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Command {
    pub id: i64,
    pub device_id: String,
    pub command: String,
    pub payload: serde_json::Value,
    pub issued_by: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /devices/{device_id}/commands` body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCommand {
    pub command: String,
    /// A JSON object; `{}` when absent.
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
}

impl CreateCommand {
    pub fn validate(&self) -> Result<serde_json::Value, ValidationError> {
        validate::command_name(&self.command)?;
        let payload = self.payload.clone().unwrap_or_else(|| serde_json::json!({}));
        let text = payload.to_string();
        if !payload.is_object() {
            return Err(ValidationError::new("payload", "a JSON object (e.g. {\"seconds\": 30})", &text));
        }
        if text.len() > MAX_COMMAND_PAYLOAD_BYTES {
            return Err(ValidationError::new(
                "payload",
                &format!("at most {MAX_COMMAND_PAYLOAD_BYTES} bytes of JSON (got {} bytes)", text.len()),
                &text,
            ));
        }
        Ok(payload)
    }
}

/// `POST /devices/{device_id}/tags` body: set (insert or replace) one tag.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTag {
    pub key: String,
    pub value: String,
}

impl SetTag {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::tag_key(&self.key)?;
        validate::tag_value(&self.value)
    }
}

/// A container image pushed to the service's repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub repository: String,
    pub digest: String,
    pub tag: Option<String>,
    pub size_bytes: Option<i64>,
    pub pushed_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

/// The `detail` of an EventBridge "ECR Image Action" event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageAction {
    pub action_type: String,
    pub result: String,
    pub repository_name: String,
    pub image_digest: String,
    #[serde(default)]
    pub image_tag: Option<String>,
}

/// A push worth recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePush {
    pub repository: String,
    pub digest: String,
    pub tag: Option<String>,
}

/// Why an image action is not recorded (a normal outcome, not an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    OtherRepository(String),
    NotAPush(String),
    NotSuccessful(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OtherRepository(r) => write!(f, "repository {} is not the service's", validate::excerpt(r)),
            Self::NotAPush(a) => write!(f, "action-type {} is not PUSH", validate::excerpt(a)),
            Self::NotSuccessful(r) => write!(f, "result {} is not SUCCESS", validate::excerpt(r)),
        }
    }
}

impl EcrImageAction {
    /// Whether to record it: a successful PUSH to `repository`, with a valid digest (and tag, when
    /// present). An untagged push (image-tag absent or empty) is recorded without a tag.
    pub fn classify(&self, repository: &str) -> Result<Result<ImagePush, Skip>, ValidationError> {
        if self.repository_name != repository {
            return Ok(Err(Skip::OtherRepository(self.repository_name.clone())));
        }
        if self.action_type != "PUSH" {
            return Ok(Err(Skip::NotAPush(self.action_type.clone())));
        }
        if self.result != "SUCCESS" {
            return Ok(Err(Skip::NotSuccessful(self.result.clone())));
        }
        validate::image_digest(&self.image_digest)?;
        let tag = self.image_tag.clone().filter(|t| !t.is_empty());
        if let Some(t) = &tag {
            validate::image_tag(t)?;
        }
        Ok(Ok(ImagePush { repository: self.repository_name.clone(), digest: self.image_digest.clone(), tag }))
    }
}

/// Retention in days for the timer's purge: 1 to 3650.
pub fn retention_cutoff(now: DateTime<Utc>, name: &str, days: i64) -> Result<DateTime<Utc>, ValidationError> {
    if !(1..=3650).contains(&days) {
        return Err(ValidationError::new(name, "a whole number of days from 1 to 3650", &days.to_string()));
    }
    Ok(now - chrono::Duration::days(days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_device() {
        let ok: CreateDevice = serde_json::from_value(json!({"id": "sensor-1", "name": "Kitchen"})).unwrap();
        assert!(ok.validate().is_ok());
        let bad = CreateDevice { id: "x'--".into(), name: "n".into() };
        assert_eq!(bad.validate().unwrap_err().field, "device_id");
        assert!(serde_json::from_value::<CreateDevice>(json!({"id": "a", "name": "b", "admin": true})).is_err());
    }

    #[test]
    fn create_command() {
        let c = CreateCommand { command: "reboot".into(), payload: None };
        assert_eq!(c.validate().unwrap(), json!({}));
        let c = CreateCommand { command: "reboot".into(), payload: Some(json!([1])) };
        assert_eq!(c.validate().unwrap_err().field, "payload");
        let c = CreateCommand { command: "reboot".into(), payload: Some(json!({"x": "y".repeat(5000)})) };
        assert!(c.validate().unwrap_err().rule.contains("at most 4096 bytes"));
        let c = CreateCommand { command: "Reboot; rm".into(), payload: None };
        assert_eq!(c.validate().unwrap_err().field, "command");
    }

    #[test]
    fn ecr_classify() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let ev = EcrImageAction {
            action_type: "PUSH".into(),
            result: "SUCCESS".into(),
            repository_name: "svc".into(),
            image_digest: digest.clone(),
            image_tag: Some("v1".into()),
        };
        assert_eq!(ev.classify("svc").unwrap().unwrap().tag.as_deref(), Some("v1"));
        assert!(matches!(ev.classify("other").unwrap(), Err(Skip::OtherRepository(_))));
        let del = EcrImageAction { action_type: "DELETE".into(), ..ev.clone() };
        assert!(matches!(del.classify("svc").unwrap(), Err(Skip::NotAPush(_))));
        let failed = EcrImageAction { result: "FAILURE".into(), ..ev.clone() };
        assert!(matches!(failed.classify("svc").unwrap(), Err(Skip::NotSuccessful(_))));
        let untagged = EcrImageAction { image_tag: Some(String::new()), ..ev.clone() };
        assert_eq!(untagged.classify("svc").unwrap().unwrap().tag, None);
        let bad_digest = EcrImageAction { image_digest: "sha256:'; DROP TABLE images;--".into(), ..ev.clone() };
        assert_eq!(bad_digest.classify("svc").unwrap_err().field, "image-digest");
        let bad_tag = EcrImageAction { image_tag: Some("../x".into()), ..ev };
        assert_eq!(bad_tag.classify("svc").unwrap_err().field, "image-tag");
    }

    #[test]
    fn retention() {
        let now = Utc::now();
        assert_eq!(retention_cutoff(now, "d", 2).unwrap(), now - chrono::Duration::days(2));
        assert!(retention_cutoff(now, "d", 0).is_err());
        assert!(retention_cutoff(now, "d", 3651).is_err());
    }
}
