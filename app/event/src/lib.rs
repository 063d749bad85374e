//! The event Lambda: EventBridge "ECR Image Action" events. A successful `PUSH` to the
//! service's repository (`ECR_REPOSITORY_NAME`) is recorded in the database with its size and
//! push time, read from ECR with `DescribeImages`. Other repositories, actions and results are
//! ignored, and the function returns what it did.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use fleet_core::model::{EcrImageAction, Image, ImagePush};
use fleet_db::Pool;
use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::Value;

/// What the function did with one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Recorded { image: Image },
    Ignored { reason: String },
}

fn error(kind: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic { error_type: kind.into(), error_message: message.into() }
}

/// Size and push time of an image, from ECR.
pub async fn describe(
    ecr: &aws_sdk_ecr::Client,
    push: &ImagePush,
) -> Result<(Option<i64>, Option<DateTime<Utc>>), Diagnostic> {
    let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&push.digest).build();
    let out = ecr
        .describe_images()
        .repository_name(&push.repository)
        .image_ids(id)
        .send()
        .await
        .map_err(|e| {
            error(
                "EcrError",
                format!(
                    "ECR DescribeImages for {}@{} failed: {}",
                    push.repository,
                    push.digest,
                    aws_sdk_ecr::error::DisplayErrorContext(&e)
                ),
            )
        })?;
    let detail = out.image_details().first().ok_or_else(|| {
        error("EcrError", format!("ECR has no image {}@{}", push.repository, push.digest))
    })?;
    let pushed_at = detail
        .image_pushed_at()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
    Ok((detail.image_size_in_bytes(), pushed_at))
}

/// Handles one event.
pub async fn handle(pool: Pool, ecr: &aws_sdk_ecr::Client, repository: &str, event: Value) -> Result<Outcome, Diagnostic> {
    let ev: EventBridgeEvent<Value> = serde_json::from_value(event)
        .map_err(|e| error("InvalidEvent", format!("not an EventBridge event: {e}")))?;
    if ev.source != "aws.ecr" || ev.detail_type != "ECR Image Action" {
        let reason = format!(
            "event {} from {} is not an ECR Image Action",
            fleet_core::validate::excerpt(&ev.detail_type),
            fleet_core::validate::excerpt(&ev.source)
        );
        tracing::info!(%reason, "ignored");
        return Ok(Outcome::Ignored { reason });
    }
    let detail: EcrImageAction = serde_json::from_value(ev.detail)
        .map_err(|e| error("InvalidEvent", format!("ECR Image Action detail has the wrong shape: {e}")))?;
    let push = match detail.classify(repository) {
        Err(invalid) => return Err(error("InvalidEvent", invalid.to_string())),
        Ok(Err(skip)) => {
            tracing::info!(reason = %skip, "ignored");
            return Ok(Outcome::Ignored { reason: skip.to_string() });
        }
        Ok(Ok(push)) => push,
    };
    let (size, pushed_at) = describe(ecr, &push).await?;
    let image = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(fleet_db::DbError::from)?;
        fleet_db::record_image(&mut conn, &push, size, pushed_at)
    })
    .await
    .map_err(|e| error("InternalError", format!("record task failed: {e}")))?
    .map_err(|e| error("DatabaseError", e.to_string()))?;
    tracing::info!(repository = %image.repository, digest = %image.digest, "recorded");
    Ok(Outcome::Recorded { image })
}
