-- The fleet schema. Tokens are stored hashed (SHA-256 hex of the whole token), never in clear.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY CHECK (id ~ '^[a-z0-9]{12}$'),
    token_sha256 TEXT NOT NULL CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    owner        TEXT NOT NULL,
    scopes       TEXT[] NOT NULL CHECK (array_position(scopes, NULL) IS NULL),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_expires_at_idx ON api_tokens (expires_at);
CREATE INDEX api_tokens_revoked_at_idx ON api_tokens (revoked_at);

CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX devices_owner_idx ON devices (owner, id);

CREATE TABLE device_tags (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (device_id, key)
);

CREATE TABLE commands (
    id         BIGSERIAL PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    command    TEXT NOT NULL,
    payload    JSONB NOT NULL,
    issued_by  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX commands_device_idx ON commands (device_id, id);
CREATE INDEX commands_created_at_idx ON commands (created_at);

CREATE TABLE images (
    repository  TEXT NOT NULL,
    digest      TEXT NOT NULL,
    tag         TEXT,
    size_bytes  BIGINT,
    pushed_at   TIMESTAMPTZ,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, digest)
);
