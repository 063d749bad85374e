//! The timer Lambda: on an EventBridge "Scheduled Event", purges tokens that expired or were
//! revoked more than `TOKEN_RETENTION_DAYS` ago (default 30) and commands older than
//! `COMMAND_RETENTION_DAYS` (default 90), and returns the counts.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use fleet_core::model::retention_cutoff;
use fleet_db::Pool;
use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::Value;

pub const DEFAULT_TOKEN_RETENTION_DAYS: i64 = 30;
pub const DEFAULT_COMMAND_RETENTION_DAYS: i64 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub token_days: i64,
    pub command_days: i64,
}

/// What one run purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub tokens_purged: usize,
    pub commands_purged: usize,
    pub token_cutoff: DateTime<Utc>,
    pub command_cutoff: DateTime<Utc>,
}

fn error(kind: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic { error_type: kind.into(), error_message: message.into() }
}

/// Purges with the cutoffs computed from `now` (blocking).
pub fn purge(pool: &Pool, retention: Retention, now: DateTime<Utc>) -> Result<Purged, fleet_db::DbError> {
    let token_cutoff = retention_cutoff(now, "TOKEN_RETENTION_DAYS", retention.token_days)?;
    let command_cutoff = retention_cutoff(now, "COMMAND_RETENTION_DAYS", retention.command_days)?;
    let mut conn = pool.get()?;
    Ok(Purged {
        tokens_purged: fleet_db::purge_tokens(&mut conn, token_cutoff)?,
        commands_purged: fleet_db::purge_commands(&mut conn, command_cutoff)?,
        token_cutoff,
        command_cutoff,
    })
}

/// Handles one invocation: a "Scheduled Event" from `aws.events`; anything else is refused (so a
/// misrouted event never purges).
pub async fn handle(pool: Pool, retention: Retention, event: Value) -> Result<Purged, Diagnostic> {
    let ev: EventBridgeEvent<Value> = serde_json::from_value(event)
        .map_err(|e| error("InvalidEvent", format!("not an EventBridge event: {e}")))?;
    if ev.source != "aws.events" || ev.detail_type != "Scheduled Event" {
        return Err(error(
            "InvalidEvent",
            format!(
                "expected a \"Scheduled Event\" from aws.events, got {} from {}",
                fleet_core::validate::excerpt(&ev.detail_type),
                fleet_core::validate::excerpt(&ev.source)
            ),
        ));
    }
    let purged = tokio::task::spawn_blocking(move || purge(&pool, retention, Utc::now()))
        .await
        .map_err(|e| error("InternalError", format!("purge task failed: {e}")))?
        .map_err(|e| error("DatabaseError", e.to_string()))?;
    tracing::info!(tokens = purged.tokens_purged, commands = purged.commands_purged, "purged");
    Ok(purged)
}
