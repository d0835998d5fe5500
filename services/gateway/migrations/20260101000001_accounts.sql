-- Accounts (账号). Passwords are argon2id PHC strings.
CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    username            text NOT NULL UNIQUE,
    password_hash       text NOT NULL,
    role                text NOT NULL CHECK (role IN ('city_admin', 'supervisor', 'department', 'township', 'village', 'auditor')),
    unit_code           text NOT NULL,
    failed_logins       integer NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL
);
CREATE INDEX users_unit ON users (unit_code text_pattern_ops);

-- Tokens revoked by logout, kept until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        uuid PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
