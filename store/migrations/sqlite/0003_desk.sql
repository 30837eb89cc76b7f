-- 0003: the workflow (package desk). Times are Unix nanoseconds (UTC),
-- dates are 'YYYY-MM-DD', money is int64 fen, JSON is text.

CREATE TABLE desk_enterprises (
    uscc         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    bank_name    TEXT NOT NULL DEFAULT '',
    bank_account TEXT NOT NULL DEFAULT '', -- SM4-encrypted, base64
    bank_masked  TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Dated facts with their source: the latest as_of on or before a date wins.
CREATE TABLE desk_facts (
    id          INTEGER PRIMARY KEY,
    uscc        TEXT NOT NULL REFERENCES desk_enterprises (uscc),
    name        TEXT NOT NULL,
    value       TEXT NOT NULL, -- JSON
    source      TEXT NOT NULL CHECK (source IN ('self_declared', 'imported_list', 'reviewer')),
    as_of       TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX desk_facts_by_enterprise ON desk_facts (uscc, name, as_of);

CREATE TABLE desk_rounds (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    items      TEXT NOT NULL, -- JSON list of item ids
    opens      TEXT NOT NULL,
    closes     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK (opens <= closes)
);

CREATE TABLE desk_applications (
    id              TEXT PRIMARY KEY,
    uscc            TEXT NOT NULL REFERENCES desk_enterprises (uscc),
    item            TEXT NOT NULL,
    round_id        TEXT REFERENCES desk_rounds (id),
    offer_id        TEXT,
    grant_id        TEXT NOT NULL DEFAULT '', -- the ledger grant holding its reservation
    state           TEXT NOT NULL,
    facts           TEXT NOT NULL, -- JSON of the claim's facts
    year            INTEGER NOT NULL,
    project         TEXT NOT NULL DEFAULT '',
    departments     TEXT NOT NULL, -- JSON list, for routing
    review_required INTEGER NOT NULL,
    snapshot        TEXT NOT NULL DEFAULT '', -- the engine's result and trace, frozen at submit
    ceiling         INTEGER NOT NULL DEFAULT 0,
    allowed         INTEGER NOT NULL DEFAULT 0, -- the engine's amount at the last evaluation
    proposed        INTEGER NOT NULL DEFAULT 0,
    approved        INTEGER NOT NULL DEFAULT 0,
    paid            INTEGER NOT NULL DEFAULT 0,
    clawed          INTEGER NOT NULL DEFAULT 0,
    note            TEXT NOT NULL DEFAULT '', -- the last reviewer message (補正, waitlist reason…)
    commitment_at   INTEGER,
    commitment_text TEXT NOT NULL DEFAULT '',
    version         INTEGER NOT NULL DEFAULT 1,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    submitted_at    INTEGER,
    updated_at      INTEGER NOT NULL,
    paid_at         INTEGER,
    CHECK (ceiling >= 0 AND allowed >= 0 AND proposed >= 0 AND approved >= 0 AND paid >= 0 AND clawed >= 0),
    CHECK (paid <= approved OR approved = 0)
);
CREATE INDEX desk_applications_by_enterprise ON desk_applications (uscc, created_at);
CREATE INDEX desk_applications_by_state ON desk_applications (state, item);

-- The status timeline of an application.
CREATE TABLE desk_events (
    id             INTEGER PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES desk_applications (id),
    from_state     TEXT NOT NULL,
    to_state       TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    actor_role     TEXT NOT NULL,
    message        TEXT NOT NULL DEFAULT '',
    at             INTEGER NOT NULL
);
CREATE INDEX desk_events_by_application ON desk_events (application_id, id);

-- Uploaded materials, stored once per content hash.
CREATE TABLE desk_blobs (
    sha256     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE desk_materials (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES desk_applications (id),
    kind           TEXT NOT NULL,
    filename       TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    sha256         TEXT NOT NULL REFERENCES desk_blobs (sha256),
    uploaded_by    TEXT NOT NULL,
    uploaded_at    INTEGER NOT NULL
);
CREATE INDEX desk_materials_by_application ON desk_materials (application_id);

-- Expert review: one row per expert assigned to an application.
CREATE TABLE desk_panel (
    application_id TEXT NOT NULL REFERENCES desk_applications (id),
    expert_id      TEXT NOT NULL,
    chair          INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL CHECK (status IN ('assigned', 'cleared', 'recused', 'scored')),
    scores         TEXT NOT NULL DEFAULT '',
    amount         INTEGER NOT NULL DEFAULT 0,
    comment        TEXT NOT NULL DEFAULT '',
    assigned_by    TEXT NOT NULL,
    assigned_at    INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (application_id, expert_id)
);

-- 公示 batches and their applications.
CREATE TABLE desk_publicity (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    starts     TEXT NOT NULL,
    ends       TEXT NOT NULL, -- the last working day of the window
    workdays   INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE desk_publicity_items (
    publicity_id   TEXT NOT NULL REFERENCES desk_publicity (id),
    application_id TEXT NOT NULL REFERENCES desk_applications (id),
    PRIMARY KEY (publicity_id, application_id)
);
CREATE TABLE desk_objections (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES desk_applications (id),
    publicity_id   TEXT NOT NULL REFERENCES desk_publicity (id),
    name           TEXT NOT NULL,
    contact        TEXT NOT NULL,
    text           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('open', 'upheld', 'dismissed')),
    resolution     TEXT NOT NULL DEFAULT '',
    resolved_by    TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    resolved_at    INTEGER
);

-- Payment batches (four-eyes: approved_by <> created_by) and payments.
CREATE TABLE desk_batches (
    id          TEXT PRIMARY KEY,
    state       TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'closed')),
    count       INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    approved_by TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    approved_at INTEGER,
    CHECK (approved_by = '' OR approved_by <> created_by)
);
CREATE TABLE desk_payments (
    batch_id       TEXT NOT NULL REFERENCES desk_batches (id),
    application_id TEXT NOT NULL REFERENCES desk_applications (id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'paid', 'failed')),
    bank_ref       TEXT NOT NULL DEFAULT '',
    recorded_by    TEXT NOT NULL DEFAULT '',
    recorded_at    INTEGER,
    PRIMARY KEY (batch_id, application_id)
);

-- Requests made with an idempotency key: the same key and body return the
-- first response; another body is a conflict.
CREATE TABLE desk_idempotency (
    key        TEXT PRIMARY KEY,
    actor_id   TEXT NOT NULL,
    hash       TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The in-site inbox.
CREATE TABLE desk_inbox (
    id         INTEGER PRIMARY KEY,
    recipient  TEXT NOT NULL, -- 'user:<id>', 'enterprise:<uscc>', 'role:<role>' or 'dept:<id>'
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    link       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    read_at    INTEGER
);
CREATE INDEX desk_inbox_by_recipient ON desk_inbox (recipient, id);

-- 免申即享 offers: an imported qualification list matched by the engine.
CREATE TABLE desk_offers (
    id             TEXT PRIMARY KEY,
    uscc           TEXT NOT NULL REFERENCES desk_enterprises (uscc),
    item           TEXT NOT NULL,
    facts          TEXT NOT NULL,
    source         TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'declined')),
    application_id TEXT,
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    decided_at     INTEGER,
    UNIQUE (uscc, item, facts)
);
CREATE INDEX desk_offers_by_enterprise ON desk_offers (uscc, state);

-- Outbound notifications for a zone's SMS or e-mail gateway, delivered by
-- the server with an HMAC signature and retried until acknowledged.
CREATE TABLE desk_outbox (
    id         INTEGER PRIMARY KEY,
    payload    TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    sent_at    INTEGER,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX desk_outbox_due ON desk_outbox (sent_at, next_at);
