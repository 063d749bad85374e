//! The queries. Every value reaches PostgreSQL as a bound parameter (diesel's DSL), never by
//! string building. Ownership is part of every device query: another owner's device is "not found".

use crate::DbError;
use crate::schema::{api_tokens, commands, device_tags, devices, images};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use fleet_core::model::{Command, CreateDevice, Device, Image, ImagePush, MAX_TAGS_PER_DEVICE};
use fleet_core::token::ParsedToken;
use fleet_core::{TokenRecord, ValidationError, token, validate};
use std::collections::BTreeMap;

/// Largest page a list query returns.
pub const MAX_PAGE: i64 = 100;

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct TokenRow {
    id: String,
    token_sha256: String,
    owner: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Issues a token for `owner` with `scopes`; returns it (the only time it exists in clear).
pub fn issue_token(
    conn: &mut PgConnection,
    owner: &str,
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
) -> Result<ParsedToken, DbError> {
    validate::owner(owner)?;
    if scopes.is_empty() {
        return Err(ValidationError::new("scopes", "at least one scope (e.g. devices:read)", "").into());
    }
    for s in scopes {
        validate::scope(s)?;
    }
    let t = token::generate();
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(t.id()),
            api_tokens::token_sha256.eq(t.sha256()),
            api_tokens::owner.eq(owner),
            api_tokens::scopes.eq(scopes),
            api_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(t)
}

/// The stored token with this id, if any.
pub fn find_token(conn: &mut PgConnection, id: &str) -> Result<Option<TokenRecord>, DbError> {
    let row = api_tokens::table.find(id).select(TokenRow::as_select()).first(conn).optional()?;
    Ok(row.map(|r| TokenRecord {
        id: r.id,
        token_sha256: r.token_sha256,
        owner: r.owner,
        scopes: r.scopes,
        created_at: r.created_at,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
    }))
}

/// Revokes a token; false when no such token (or already revoked).
pub fn revoke_token(conn: &mut PgConnection, id: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
    let n = diesel::update(api_tokens::table.find(id).filter(api_tokens::revoked_at.is_null()))
        .set(api_tokens::revoked_at.eq(at))
        .execute(conn)?;
    Ok(n == 1)
}

/// Deletes tokens that expired or were revoked before `cutoff`; returns how many.
pub fn purge_tokens(conn: &mut PgConnection, cutoff: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::delete(
        api_tokens::table.filter(api_tokens::expires_at.lt(cutoff).or(api_tokens::revoked_at.lt(cutoff))),
    )
    .execute(conn)?)
}

/// Deletes commands created before `cutoff`; returns how many.
pub fn purge_commands(conn: &mut PgConnection, cutoff: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::delete(commands::table.filter(commands::created_at.lt(cutoff))).execute(conn)?)
}

fn is_unique_violation(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

fn tags_of(conn: &mut PgConnection, ids: &[String]) -> Result<BTreeMap<String, BTreeMap<String, String>>, DbError> {
    let rows: Vec<(String, String, String)> = device_tags::table
        .filter(device_tags::device_id.eq_any(ids))
        .select((device_tags::device_id, device_tags::key, device_tags::value))
        .load(conn)?;
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (d, k, v) in rows {
        out.entry(d).or_default().insert(k, v);
    }
    Ok(out)
}

type DeviceRow = (String, String, String, DateTime<Utc>);

fn with_tags(conn: &mut PgConnection, rows: Vec<DeviceRow>) -> Result<Vec<Device>, DbError> {
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let mut tags = tags_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|(id, owner, name, created_at)| {
            let t = tags.remove(&id).unwrap_or_default();
            Device { id, owner, name, created_at, tags: t }
        })
        .collect())
}

/// Creates a device owned by `owner`. The id is global: a taken id is a `Conflict`.
pub fn create_device(conn: &mut PgConnection, owner: &str, new: &CreateDevice) -> Result<Device, DbError> {
    new.validate()?;
    let row: Result<DeviceRow, _> = diesel::insert_into(devices::table)
        .values((devices::id.eq(&new.id), devices::owner.eq(owner), devices::name.eq(&new.name)))
        .returning((devices::id, devices::owner, devices::name, devices::created_at))
        .get_result(conn);
    match row {
        Ok((id, owner, name, created_at)) => Ok(Device { id, owner, name, created_at, tags: BTreeMap::new() }),
        Err(e) if is_unique_violation(&e) => {
            Err(DbError::Conflict(format!("device {} already exists: choose another id", validate::excerpt(&new.id))))
        }
        Err(e) => Err(e.into()),
    }
}

/// `owner`'s devices, ordered by id, at most `limit` (1..=MAX_PAGE).
pub fn list_devices(conn: &mut PgConnection, owner: &str, limit: i64) -> Result<Vec<Device>, DbError> {
    let rows: Vec<DeviceRow> = devices::table
        .filter(devices::owner.eq(owner))
        .order(devices::id)
        .limit(limit.clamp(1, MAX_PAGE))
        .select((devices::id, devices::owner, devices::name, devices::created_at))
        .load(conn)?;
    with_tags(conn, rows)
}

/// One of `owner`'s devices.
pub fn get_device(conn: &mut PgConnection, owner: &str, id: &str) -> Result<Option<Device>, DbError> {
    let row: Option<DeviceRow> = devices::table
        .filter(devices::id.eq(id).and(devices::owner.eq(owner)))
        .select((devices::id, devices::owner, devices::name, devices::created_at))
        .first(conn)
        .optional()?;
    Ok(with_tags(conn, row.into_iter().collect())?.pop())
}

fn owns(conn: &mut PgConnection, owner: &str, device_id: &str) -> Result<bool, DbError> {
    let n: i64 = devices::table
        .filter(devices::id.eq(device_id).and(devices::owner.eq(owner)))
        .count()
        .get_result(conn)?;
    Ok(n == 1)
}

type CommandRow = (i64, String, String, serde_json::Value, String, DateTime<Utc>);

fn command(r: CommandRow) -> Command {
    Command { id: r.0, device_id: r.1, command: r.2, payload: r.3, issued_by: r.4, created_at: r.5 }
}

/// Queues a command for one of `owner`'s devices; `None` when the device is not theirs.
pub fn add_command(
    conn: &mut PgConnection,
    owner: &str,
    device_id: &str,
    name: &str,
    payload: &serde_json::Value,
) -> Result<Option<Command>, DbError> {
    if !owns(conn, owner, device_id)? {
        return Ok(None);
    }
    let row: CommandRow = diesel::insert_into(commands::table)
        .values((
            commands::device_id.eq(device_id),
            commands::command.eq(name),
            commands::payload.eq(payload),
            commands::issued_by.eq(owner),
        ))
        .returning((
            commands::id,
            commands::device_id,
            commands::command,
            commands::payload,
            commands::issued_by,
            commands::created_at,
        ))
        .get_result(conn)?;
    Ok(Some(command(row)))
}

/// The latest commands of one of `owner`'s devices, newest first; `None` when not theirs.
pub fn list_commands(
    conn: &mut PgConnection,
    owner: &str,
    device_id: &str,
    limit: i64,
) -> Result<Option<Vec<Command>>, DbError> {
    if !owns(conn, owner, device_id)? {
        return Ok(None);
    }
    let rows: Vec<CommandRow> = commands::table
        .filter(commands::device_id.eq(device_id))
        .order(commands::id.desc())
        .limit(limit.clamp(1, MAX_PAGE))
        .select((
            commands::id,
            commands::device_id,
            commands::command,
            commands::payload,
            commands::issued_by,
            commands::created_at,
        ))
        .load(conn)?;
    Ok(Some(rows.into_iter().map(command).collect()))
}

/// Sets (inserts or replaces) a tag on one of `owner`'s devices; returns the device, `None` when
/// not theirs. At most `MAX_TAGS_PER_DEVICE` distinct keys.
pub fn set_tag(
    conn: &mut PgConnection,
    owner: &str,
    device_id: &str,
    key: &str,
    value: &str,
) -> Result<Option<Device>, DbError> {
    conn.transaction(|conn| {
        if !owns(conn, owner, device_id)? {
            return Ok(None);
        }
        let count: i64 = device_tags::table
            .filter(device_tags::device_id.eq(device_id).and(device_tags::key.ne(key)))
            .count()
            .get_result(conn)?;
        if count >= MAX_TAGS_PER_DEVICE as i64 {
            return Err(DbError::Conflict(format!(
                "device {} already has {MAX_TAGS_PER_DEVICE} tags, the most allowed: remove one first",
                validate::excerpt(device_id)
            )));
        }
        diesel::insert_into(device_tags::table)
            .values((device_tags::device_id.eq(device_id), device_tags::key.eq(key), device_tags::value.eq(value)))
            .on_conflict((device_tags::device_id, device_tags::key))
            .do_update()
            .set(device_tags::value.eq(value))
            .execute(conn)?;
        get_device(conn, owner, device_id)
    })
}

type ImageRow = (String, String, Option<String>, Option<i64>, Option<DateTime<Utc>>, DateTime<Utc>);

fn image(r: ImageRow) -> Image {
    Image { repository: r.0, digest: r.1, tag: r.2, size_bytes: r.3, pushed_at: r.4, recorded_at: r.5 }
}

const IMAGE_COLUMNS: (
    images::repository,
    images::digest,
    images::tag,
    images::size_bytes,
    images::pushed_at,
    images::recorded_at,
) = (images::repository, images::digest, images::tag, images::size_bytes, images::pushed_at, images::recorded_at);

/// Records (or refreshes) a pushed image with the details ECR gave.
pub fn record_image(
    conn: &mut PgConnection,
    push: &ImagePush,
    size_bytes: Option<i64>,
    pushed_at: Option<DateTime<Utc>>,
) -> Result<Image, DbError> {
    let row: ImageRow = diesel::insert_into(images::table)
        .values((
            images::repository.eq(&push.repository),
            images::digest.eq(&push.digest),
            images::tag.eq(&push.tag),
            images::size_bytes.eq(size_bytes),
            images::pushed_at.eq(pushed_at),
        ))
        .on_conflict((images::repository, images::digest))
        .do_update()
        .set((
            images::tag.eq(&push.tag),
            images::size_bytes.eq(size_bytes),
            images::pushed_at.eq(pushed_at),
            images::recorded_at.eq(diesel::dsl::now),
        ))
        .returning(IMAGE_COLUMNS)
        .get_result(conn)?;
    Ok(image(row))
}

/// Recorded images, most recently pushed first.
pub fn list_images(conn: &mut PgConnection, limit: i64) -> Result<Vec<Image>, DbError> {
    let rows: Vec<ImageRow> = images::table
        .order((images::pushed_at.desc().nulls_last(), images::digest))
        .limit(limit.clamp(1, MAX_PAGE))
        .select(IMAGE_COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(image).collect())
}
