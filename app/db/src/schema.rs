// The tables of migrations/; kept by hand (diesel print-schema's output shape).
diesel::table! {
    api_tokens (id) {
        id -> Text,
        token_sha256 -> Text,
        owner -> Text,
        scopes -> Array<Text>,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        owner -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    device_tags (device_id, key) {
        device_id -> Text,
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    commands (id) {
        id -> Int8,
        device_id -> Text,
        command -> Text,
        payload -> Jsonb,
        issued_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    images (repository, digest) {
        repository -> Text,
        digest -> Text,
        tag -> Nullable<Text>,
        size_bytes -> Nullable<Int8>,
        pushed_at -> Nullable<Timestamptz>,
        recorded_at -> Timestamptz,
    }
}

diesel::joinable!(device_tags -> devices (device_id));
diesel::joinable!(commands -> devices (device_id));
diesel::allow_tables_to_appear_in_same_query!(api_tokens, devices, device_tags, commands, images);
