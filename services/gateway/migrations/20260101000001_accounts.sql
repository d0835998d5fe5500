-- Accounts (账号). Passwords are argon2id PHC strings.
CREATE TABLE users (
    id               uuid PRIMARY KEY,
    username         text NOT NULL UNIQUE,
    password_hash    text NOT NULL,
    role             text NOT NULL CHECK (role IN ('city_admin', 'supervisor', 'department', 'township', 'village', 'auditor')),
    unit_code        text NOT NULL,
    -- A password change starts a new generation; older tokens stop working.
    token_generation bigint NOT NULL DEFAULT 0,
    -- May read household personal data in clear (granted by the city office).
    clearance        boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL
);
CREATE INDEX users_unit ON users (unit_code text_pattern_ops);

-- Failed logins per name, known or not, so that the lockout says nothing
-- about which names exist.
CREATE TABLE login_throttle (
    username     text PRIMARY KEY,
    failures     integer NOT NULL,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_throttle_updated ON login_throttle (updated_at);

-- Tokens revoked by logout, kept until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        uuid PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
