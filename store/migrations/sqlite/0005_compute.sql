-- 0005: compute and model vouchers (package compute): providers and their
-- related parties, the domestic-chip vendor list, listings on the 算力调度平台,
-- contracts and voucher claims, settlement records, redemptions and the
-- domestic-server purchases of 第二条. Times are Unix nanoseconds (UTC),
-- dates 'YYYY-MM-DD', money int64 fen, card-hours int64 thousandths, JSON text.

CREATE TABLE compute_providers (
    id         TEXT PRIMARY KEY,
    uscc       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    kinds      TEXT NOT NULL, -- 'compute', 'model' or 'compute,model'
    contact    TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'suspended')),
    note       TEXT NOT NULL DEFAULT '',
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at INTEGER,
    version    INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Related parties a provider declares (关联方): a voucher contract between
-- related parties is refused.
CREATE TABLE compute_related_parties (
    provider_id TEXT NOT NULL REFERENCES compute_providers (id),
    uscc        TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    relation    TEXT NOT NULL DEFAULT '',
    declared_at INTEGER NOT NULL,
    PRIMARY KEY (provider_id, uscc)
);
CREATE INDEX compute_related_by_uscc ON compute_related_parties (uscc);

-- AI-accelerator vendors; domestic = 国产. Kept by the admin.
CREATE TABLE compute_vendors (
    name       TEXT PRIMARY KEY,
    domestic   INTEGER NOT NULL CHECK (domestic IN (0, 1)),
    aliases    TEXT NOT NULL DEFAULT '[]', -- JSON list of other spellings
    note       TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO compute_vendors (name, domestic, aliases, note, updated_by, updated_at) VALUES
    ('昇腾', 1, '["华为昇腾","華為昇騰","昇騰","Huawei Ascend","Ascend","HUAWEI"]', '华为', 'seed', 0),
    ('寒武纪', 1, '["寒武紀","Cambricon","MLU"]', '', 'seed', 0),
    ('海光', 1, '["Hygon","海光DCU","DCU"]', '', 'seed', 0),
    ('昆仑芯', 1, '["崑崙芯","Kunlunxin","Kunlun","KUNLUNXIN"]', '', 'seed', 0),
    ('燧原', 1, '["Enflame","燧原科技"]', '', 'seed', 0),
    ('摩尔线程', 1, '["摩爾線程","Moore Threads","MTT"]', '', 'seed', 0),
    ('沐曦', 1, '["MetaX","沐曦集成电路"]', '', 'seed', 0),
    ('壁仞', 1, '["Biren","壁仞科技"]', '', 'seed', 0),
    ('天数智芯', 1, '["天數智芯","Iluvatar","Iluvatar CoreX"]', '', 'seed', 0),
    ('平头哥', 1, '["平頭哥","T-Head","含光"]', '', 'seed', 0),
    ('英伟达', 0, '["NVIDIA","輝達","英偉達"]', '', 'seed', 0),
    ('AMD', 0, '["超威"]', '', 'seed', 0),
    ('英特尔', 0, '["Intel","英特爾","Habana"]', '', 'seed', 0);

-- Application scenarios of 第八条 (揭榜挂帅 / 标杆型示范应用场景), kept by the admin.
CREATE TABLE compute_scenarios (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('jiebang', 'benchmark')),
    active     INTEGER NOT NULL CHECK (active IN (0, 1)),
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Resource pools listed on the scheduling platform.
CREATE TABLE compute_listings (
    id          TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES compute_providers (id),
    chip_model  TEXT NOT NULL,
    vendor      TEXT NOT NULL,
    domestic    INTEGER NOT NULL CHECK (domestic IN (0, 1)), -- from the vendor list when listed
    cards       INTEGER NOT NULL CHECK (cards > 0),
    servers     INTEGER NOT NULL CHECK (servers >= 0),
    in_zone     INTEGER NOT NULL CHECK (in_zone IN (0, 1)),
    location    TEXT NOT NULL DEFAULT '',
    price       INTEGER NOT NULL CHECK (price >= 0), -- fen per card-hour
    state       TEXT NOT NULL CHECK (state IN ('listed', 'withdrawn')),
    version     INTEGER NOT NULL DEFAULT 1,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX compute_listings_by_provider ON compute_listings (provider_id, state);

-- Each listed window of a listing: listed_on to withdrawn_on (NULL: still listed).
CREATE TABLE compute_listing_periods (
    listing_id   TEXT NOT NULL REFERENCES compute_listings (id),
    seq          INTEGER NOT NULL,
    listed_on    TEXT NOT NULL,
    withdrawn_on TEXT,
    PRIMARY KEY (listing_id, seq)
);

-- Service contracts between an enterprise and a provider.
CREATE TABLE compute_contracts (
    id          TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES compute_providers (id),
    uscc        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('compute', 'model')),
    number      TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    amount      INTEGER NOT NULL CHECK (amount > 0),
    starts      TEXT NOT NULL,
    ends        TEXT NOT NULL,
    signed_on   TEXT NOT NULL,
    deployment  TEXT NOT NULL DEFAULT '',
    scenario    TEXT NOT NULL DEFAULT '',
    listing_id  TEXT REFERENCES compute_listings (id),
    state       TEXT NOT NULL CHECK (state IN ('active', 'ended')),
    ended_on    TEXT,
    version     INTEGER NOT NULL DEFAULT 1,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (provider_id, number),
    CHECK (starts <= ends)
);
CREATE INDEX compute_contracts_by_enterprise ON compute_contracts (uscc, created_at);

-- Voucher claims (申领): one desk application each; once approved, its
-- reservation is redeemed as a chain of ledger grants (grant → grant/1 → …).
CREATE TABLE compute_claims (
    id             TEXT PRIMARY KEY,
    contract_id    TEXT NOT NULL REFERENCES compute_contracts (id),
    application_id TEXT NOT NULL UNIQUE,
    uscc           TEXT NOT NULL,
    item           TEXT NOT NULL,
    year           INTEGER NOT NULL,
    base           INTEGER NOT NULL CHECK (base > 0), -- the contract share claimed
    rate_on        TEXT NOT NULL,                    -- the date whose rate applies
    state          TEXT NOT NULL CHECK (state IN ('applied', 'active', 'closed', 'refused')),
    quota          INTEGER NOT NULL DEFAULT 0,
    used           INTEGER NOT NULL DEFAULT 0,
    released       INTEGER NOT NULL DEFAULT 0,
    grant_first    TEXT NOT NULL DEFAULT '',
    grant_current  TEXT NOT NULL DEFAULT '',
    seq            INTEGER NOT NULL DEFAULT 0,
    expires_on     TEXT NOT NULL,
    version        INTEGER NOT NULL DEFAULT 1,
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    activated_at   INTEGER,
    closed_at      INTEGER,
    updated_at     INTEGER NOT NULL,
    CHECK (used >= 0 AND released >= 0 AND used + released <= quota)
);
CREATE INDEX compute_claims_by_contract ON compute_claims (contract_id, created_at);
CREATE INDEX compute_claims_by_state ON compute_claims (state, expires_on);

-- One import per provider and file content (sha256): a re-import replays.
CREATE TABLE compute_imports (
    id          TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES compute_providers (id),
    sha256      TEXT NOT NULL,
    filename    TEXT NOT NULL DEFAULT '',
    format      TEXT NOT NULL,
    encoding    TEXT NOT NULL,
    row_count   INTEGER NOT NULL,
    imported    INTEGER NOT NULL,
    refused     INTEGER NOT NULL,
    amount      INTEGER NOT NULL,
    report      TEXT NOT NULL, -- JSON: the refused rows (first 10,000)
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (provider_id, sha256)
);

-- Settlement records; an invoice number is used once on the whole platform.
-- contract_id has no foreign key: a bulk import stores a million rows,
-- and the per-row check (PostgreSQL runs a trigger per row) cost 40% of
-- it; the importer resolves every row's contract in the same transaction
-- and contracts are never deleted.
CREATE TABLE compute_settlements (
    id            INTEGER PRIMARY KEY,
    contract_id   TEXT NOT NULL,
    import_id     TEXT NOT NULL, -- the import (or API submission) that stored it
    line          INTEGER NOT NULL,
    period_start  TEXT NOT NULL,
    period_end    TEXT NOT NULL,
    card_milli    INTEGER NOT NULL CHECK (card_milli >= 0), -- card-hours × 1000
    api_calls     INTEGER NOT NULL CHECK (api_calls >= 0),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    invoice_no    TEXT NOT NULL,
    invoice_date  TEXT NOT NULL,
    delivery_ref  TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL CHECK (state IN ('submitted', 'confirmed', 'disputed', 'withdrawn', 'redeeming', 'redeemed')),
    redemption_id TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX compute_settlements_invoice ON compute_settlements (invoice_no);
CREATE INDEX compute_settlements_by_contract ON compute_settlements (contract_id, state);

-- Redemptions (兑付): confirmed records redeemed against the claims'
-- reservations; parts is the plan, one ledger redemption per claim touched.
CREATE TABLE compute_redemptions (
    id          TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL REFERENCES compute_contracts (id),
    uscc        TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    item        TEXT NOT NULL,
    records     INTEGER NOT NULL,
    base        INTEGER NOT NULL,
    rate        TEXT NOT NULL,
    due         INTEGER NOT NULL, -- rate × base, rounded down once
    amount      INTEGER NOT NULL, -- due, limited by the quota left
    parts       TEXT NOT NULL,    -- JSON
    state       TEXT NOT NULL CHECK (state IN ('pending', 'payable', 'paid', 'failed')),
    bank_ref    TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    paid_by     TEXT NOT NULL DEFAULT '',
    paid_at     INTEGER,
    CHECK (amount >= 0 AND amount <= due)
);
CREATE INDEX compute_redemptions_by_contract ON compute_redemptions (contract_id, created_at);
CREATE INDEX compute_redemptions_by_state ON compute_redemptions (state);

-- Domestic AI-chip server purchases of 第二条, with their verification.
CREATE TABLE compute_purchases (
    id             TEXT PRIMARY KEY,
    provider_id    TEXT NOT NULL REFERENCES compute_providers (id),
    uscc           TEXT NOT NULL,
    project        TEXT NOT NULL,
    contract_no    TEXT NOT NULL,
    seller         TEXT NOT NULL,
    signed_on      TEXT NOT NULL,
    total          INTEGER NOT NULL CHECK (total > 0),
    lines          TEXT NOT NULL, -- JSON
    verification   TEXT NOT NULL, -- JSON
    domestic       INTEGER NOT NULL, -- domestic-server part of the contract
    verified       INTEGER NOT NULL, -- of which listed and serving others
    application_id TEXT NOT NULL DEFAULT '',
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (provider_id, contract_no)
);
