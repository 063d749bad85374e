"""The migrate function (dist/migrate.zip under the emulator) and the runtime role it keeps.

The session's database was set up by its first invocation (conftest.py ``migration``). The truth
checked here is PostgreSQL's (a login as the runtime role with the password read back from
moto's secret, what it may and may not do, pg_catalog) and moto's (the secret's versions and
labels), never what the function answered about itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.sandbox import RieFunction
from tests.runtime.services import ROOT, Database, Secrets

pytestmark = [pytest.mark.rie, pytest.mark.postgres]

APP_TABLES = ("api_tokens", "commands", "device_tags", "devices", "images")
# Statements the runtime role must be able to run (the application's kinds of query).
ALLOWED = (
    "SELECT count(*) FROM devices",
    "INSERT INTO devices (id, owner, name) VALUES ('lp-1', 'lp-owner', 'n')",
    "UPDATE devices SET name = 'renamed' WHERE id = 'lp-1'",
    "INSERT INTO commands (device_id, command, payload, issued_by) "
    "VALUES ('lp-1', 'ping', '{}', 'lp-owner')",  # uses commands_id_seq
    "DELETE FROM commands WHERE device_id = 'lp-1'",
    "DELETE FROM devices WHERE id = 'lp-1'",
    "SELECT version FROM __diesel_schema_migrations",
)
# Statements it must not: PostgreSQL's answer, SQLSTATE 42501 (insufficient_privilege) each.
REFUSED = {
    "CREATE TABLE lp_t (x int)": "permission denied for schema public",
    "CREATE FUNCTION lp_f() RETURNS int LANGUAGE sql AS 'SELECT 1'": "permission denied for "
    "schema public",
    "CREATE TEMP TABLE lp_tmp (x int)": "permission denied to create temporary tables",
    "DROP TABLE devices": "must be owner of table devices",
    "ALTER TABLE devices ADD COLUMN lp int": "must be owner of table devices",
    "TRUNCATE devices": "permission denied for table devices",
    "CREATE INDEX lp_i ON devices (name)": "must be owner of table devices",
    "CREATE ROLE lp_role": "permission denied to create role",
    "CREATE SCHEMA lp_schema": "permission denied for database",
    "CREATE DATABASE lp_db": "permission denied to create database",
    "INSERT INTO __diesel_schema_migrations (version) VALUES ('0')": "permission denied for "
    "table __diesel_schema_migrations",
}


def migration_versions() -> list[str]:
    """The versions diesel records for app/db/migrations: each folder's name before the first
    `_`, digits only (2026-11-26-000001_initial -> 20261126000001)."""
    folders = sorted(p.name for p in (ROOT / "app" / "db" / "migrations").iterdir() if p.is_dir())
    return [name.split("_", 1)[0].replace("-", "") for name in folders]


@pytest.fixture(scope="module")
def migrate_fn(
    start_function: Callable[..., RieFunction], database: Database
) -> Iterator[RieFunction]:
    fn = start_function("migrate")
    yield fn
    fn.stop()


def app_password(secrets: Secrets) -> str:
    return str(secrets.app_value()["password"])


def labels(secrets: Secrets) -> dict[str, list[str]]:
    """Staging label -> the versions carrying it, as moto holds them."""
    sm = secrets.moto.client("secretsmanager")
    found: dict[str, list[str]] = {}
    for version in sm.list_secret_version_ids(SecretId=secrets.app_arn)["Versions"]:
        for label in version.get("VersionStages", []):
            found.setdefault(label, []).append(version["VersionId"])
    return found


def assert_settled(secrets: Secrets) -> None:
    """A finished rotation: one AWSCURRENT version, no AWSPENDING anywhere."""
    found = labels(secrets)
    assert found.get("AWSCURRENT") == [secrets.app_version()], found
    assert "AWSPENDING" not in found, found


def test_the_first_run_applied_the_migrations_and_wrote_the_secret(
    migration: dict[str, Any], database: Database, secrets: Secrets
) -> None:
    assert migration == {"applied": migration_versions(), "role": database.role, "rotated": True}
    value = secrets.app_value()
    assert set(value) == {"username", "password", "engine", "host", "port", "dbname"}
    assert (value["username"], value["engine"]) == (database.role, "postgres")
    assert (value["host"], value["port"], value["dbname"]) == (
        database.host,
        database.port,
        database.name,
    )
    assert len(value["password"]) >= 32
    # AWSPENDING left the new version when the rotation finished.
    assert_settled(secrets)


@pytest.mark.parametrize("statement", ALLOWED)
def test_the_runtime_role_can_read_and_write_rows(
    statement: str, database: Database, secrets: Secrets
) -> None:
    proc = database.run_as(database.role, app_password(secrets), statement)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("statement", "message"), REFUSED.items())
def test_the_runtime_role_cannot_change_the_schema_or_make_roles(
    statement: str, message: str, database: Database, secrets: Secrets
) -> None:
    proc = database.run_as(database.role, app_password(secrets), statement)
    assert proc.returncode != 0, f"{statement!r} was allowed"
    assert "ERROR:  42501: " in proc.stderr, proc.stderr
    assert message in proc.stderr, proc.stderr


def test_the_runtime_role_is_plain_owns_nothing_and_has_exactly_its_grants(
    database: Database,
) -> None:
    role = database.role
    [attrs] = database.rows(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin "
        f"FROM pg_roles WHERE rolname = '{role}'"
    )
    assert attrs == {
        "rolsuper": False,
        "rolcreatedb": False,
        "rolcreaterole": False,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolcanlogin": True,
    }
    oid = f"(SELECT oid FROM pg_roles WHERE rolname = '{role}')"
    # Owner of nothing, in any database (pg_shdepend 'o'), nor of any relation, schema,
    # function or type here; a member of no role.
    assert (
        database.sql(f"SELECT count(*) FROM pg_shdepend WHERE refobjid = {oid} AND deptype = 'o'")
        == "0"
    )
    for catalog, column in (
        ("pg_class", "relowner"),
        ("pg_namespace", "nspowner"),
        ("pg_proc", "proowner"),
        ("pg_type", "typowner"),
        ("pg_database", "datdba"),
    ):
        assert database.sql(f"SELECT count(*) FROM {catalog} WHERE {column} = {oid}") == "0"
    assert database.sql(f"SELECT count(*) FROM pg_auth_members WHERE member = {oid}") == "0"
    grants = database.rows(
        "SELECT table_name AS t, string_agg(privilege_type, ',' ORDER BY privilege_type) AS p "
        f"FROM information_schema.role_table_grants WHERE grantee = '{role}' GROUP BY 1 ORDER BY 1"
    )
    expected = [{"t": "__diesel_schema_migrations", "p": "SELECT"}] + [
        {"t": t, "p": "DELETE,INSERT,SELECT,UPDATE"} for t in APP_TABLES
    ]
    assert grants == expected
    assert (
        database.sql(
            f"SELECT has_database_privilege('{role}', '{database.name}', 'CONNECT'), "
            f"has_database_privilege('{role}', '{database.name}', 'CREATE'), "
            f"has_schema_privilege('{role}', 'public', 'USAGE'), "
            f"has_schema_privilege('{role}', 'public', 'CREATE'), "
            f"has_sequence_privilege('{role}', 'commands_id_seq', 'USAGE')"
        )
        == "t|f|t|f|t"
    )
    # Default privileges: a table the master creates later is usable without another grant.
    master = database.run_as(
        database.master, database.master_password, "CREATE TABLE later (x int)"
    )
    assert master.returncode == 0, master.stderr
    assert database.sql(f"SELECT has_table_privilege('{role}', 'later', 'INSERT')") == "t"
    database.sql("DROP TABLE later")


def test_a_second_run_applies_nothing_and_keeps_the_password(
    migrate_fn: RieFunction, database: Database, secrets: Secrets
) -> None:
    before = (secrets.app_version(), app_password(secrets))
    out = migrate_fn.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})
    assert not out.is_function_error, out.body
    assert out.json() == {"applied": [], "role": database.role, "rotated": False}
    assert (secrets.app_version(), app_password(secrets)) == before
    assert database.run_as(database.role, before[1], "SELECT 1").returncode == 0


def test_rotate_changes_the_password_and_the_old_one_stops_working(
    migrate_fn: RieFunction, database: Database, secrets: Secrets
) -> None:
    old_version, old = secrets.app_version(), app_password(secrets)
    out = migrate_fn.invoke({"rotate": True})
    assert not out.is_function_error, out.body
    assert out.json() == {"applied": [], "role": database.role, "rotated": True}
    new = app_password(secrets)
    assert new != old
    assert secrets.app_version() != old_version
    refused = database.run_as(database.role, old, "SELECT 1")
    assert refused.returncode != 0
    assert "password authentication failed" in refused.stderr, refused.stderr
    assert database.run_as(database.role, new, "SELECT 1").returncode == 0
    assert_settled(secrets)


def test_a_rotation_interrupted_after_its_first_step_is_completed(
    migrate_fn: RieFunction, database: Database, secrets: Secrets
) -> None:
    """A run that stopped after PutSecretValue (AWSPENDING staged, database unchanged): the next
    run sets that password and moves AWSCURRENT to it instead of starting another rotation."""
    pending = {**secrets.app_value(), "password": "Pending-0f-an-interrupted-run'; --"}
    sm = secrets.moto.client("secretsmanager")
    put = sm.put_secret_value(
        SecretId=secrets.app_arn,
        SecretString=json.dumps(pending),
        VersionStages=["AWSPENDING"],
    )
    assert database.run_as(database.role, pending["password"], "SELECT 1").returncode != 0
    out = migrate_fn.invoke({})
    assert not out.is_function_error, out.body
    assert out.json()["rotated"] is True
    assert secrets.app_version() == put["VersionId"]
    assert app_password(secrets) == pending["password"]
    assert database.run_as(database.role, pending["password"], "SELECT 1").returncode == 0
    assert_settled(secrets)


def test_a_bad_event_or_master_secret_is_one_clear_error(
    migrate_fn: RieFunction, start_function: Callable[..., RieFunction], secrets: Secrets
) -> None:
    out = migrate_fn.invoke({"rotate": "yes"})
    assert out.is_function_error
    assert out.json()["errorType"] == "InvalidEvent"
    assert out.json()["errorMessage"] == (
        'the event\'s "rotate" must be true or false, got "yes": invoke with {"rotate": true} '
        "for a new password, or any other JSON to migrate"
    )
    missing = secrets.master_arn.rsplit(":", 1)[0] + ":rds!db-none-AbCdEf"
    fn = start_function("migrate", DB_MASTER_SECRET_ARN=missing)
    out = fn.invoke({})
    assert out.is_function_error, out.body
    message = out.json()["errorMessage"]
    assert message.startswith(f"reading the database secret {missing} failed: "), message
    assert message.endswith(
        "check DB_MASTER_SECRET_ARN and the role's secretsmanager:GetSecretValue permission"
    ), message
    assert "\n" not in message
