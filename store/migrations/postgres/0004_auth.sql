-- 0004: users, sessions and login throttling (package auth). Times are
-- Unix nanoseconds (UTC). Nothing here refers to another package's tables,
-- so this migration applies whether or not 0002 and 0003 ran before it.

CREATE TABLE auth_users (
    id            TEXT PRIMARY KEY,
    login         TEXT NOT NULL,
    login_key     TEXT NOT NULL UNIQUE, -- lower-case login: logins are case-insensitive
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('enterprise', 'provider', 'reviewer', 'expert', 'finance', 'admin')),
    enterprise    TEXT NOT NULL DEFAULT '', -- USCC of enterprise and provider users
    department    TEXT NOT NULL DEFAULT '', -- department id of reviewers
    password_hash TEXT NOT NULL,            -- argon2id PHC string
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX auth_users_by_role ON auth_users (role, login_key);

-- Server-side sessions. Only the SHA-256 of the cookie's value is stored,
-- so a copy of the database does not let anyone sign in.
CREATE TABLE auth_sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES auth_users (id),
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, -- the absolute limit
    remote_ip  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX auth_sessions_by_user ON auth_sessions (user_id);
CREATE INDEX auth_sessions_by_expiry ON auth_sessions (expires_at);

-- Failed logins per subject ('login:<login_key>' or 'ip:<address>'), kept in
-- the database so that every instance behind a load balancer agrees.
CREATE TABLE auth_throttle (
    subject      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
