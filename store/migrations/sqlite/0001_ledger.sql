-- 0001: the ledger (package ledger). TigerBeetle's model: accounts hold
-- posted and pending debits and credits; transfers are immutable entries.
-- Amounts are int64 fen; times are Unix nanoseconds (UTC).

-- One row. version grows with every committed ledger batch, so a ledger
-- instance that finds a version it did not write knows its in-memory cache
-- is stale (another process wrote). last_seq is the last transfer's seq.
CREATE TABLE ledger_meta (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
INSERT INTO ledger_meta (id, version, last_seq) VALUES (1, 0, 0);

-- flags: 1 debits_must_not_exceed_credits, 2 credits_must_not_exceed_debits.
-- The bounds are CHECK constraints too, so not even a bug in the batcher
-- can store an overdrawn pool or cap.
CREATE TABLE ledger_accounts (
    key             TEXT PRIMARY KEY,
    code            INTEGER NOT NULL CHECK (code > 0),
    flags           INTEGER NOT NULL CHECK ((flags & 3) <> 3 AND flags >= 0),
    debits_pending  INTEGER NOT NULL CHECK (debits_pending >= 0),
    debits_posted   INTEGER NOT NULL CHECK (debits_posted >= 0),
    credits_pending INTEGER NOT NULL CHECK (credits_pending >= 0),
    credits_posted  INTEGER NOT NULL CHECK (credits_posted >= 0),
    created_at      INTEGER NOT NULL,
    CHECK ((flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted),
    CHECK ((flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted)
) WITHOUT ROWID;

-- flags: 2 pending, 4 post_pending, 8 void_pending (linked, 1, is not
-- stored: it describes a request, not an entry). amount of a void is the
-- pending amount it released. hash is SHA-256 of the request body: the same
-- id with another body is a conflict.
--
-- The account and pending_id columns carry no FOREIGN KEY: every entry is
-- written by the ledger's batcher, which has just validated both accounts
-- and the pending transfer in the same locked transaction, and `policydesk
-- ledger verify` checks each reference. On PostgreSQL a foreign key costs an
-- internal query and a KEY SHARE row lock per reference per entry — on the
-- hot pool account too — which was most of a batch's write time.
CREATE TABLE ledger_transfers (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    debit_account  TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    pending_id     TEXT,
    flags          INTEGER NOT NULL CHECK (flags IN (0, 2, 4, 8)),
    expires_at     INTEGER,
    code           INTEGER NOT NULL,
    user_data      TEXT NOT NULL,
    hash           BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    CHECK (debit_account <> credit_account),
    CHECK ((pending_id IS NULL) = (flags IN (0, 2))),
    CHECK (expires_at IS NULL OR flags = 2)
);
-- A pending transfer is resolved (posted, voided or expired) at most once.
CREATE UNIQUE INDEX ledger_transfers_resolves ON ledger_transfers (pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX ledger_transfers_expiry ON ledger_transfers (expires_at) WHERE expires_at IS NOT NULL;

-- A grant's reservation (code 3, id grant/<grant id>) carries the grant's
-- terms in user_data; the policy helpers find an enterprise's grants by
-- its payable account, which the reservation credits.
CREATE INDEX ledger_transfers_grants ON ledger_transfers (credit_account) WHERE code = 3;

-- Append-only: entries are never updated or deleted (a correction is a
-- reversing transfer); an account's identity never changes.
CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
BEGIN SELECT RAISE(ABORT, 'ledger_transfers is append-only'); END;
CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers
BEGIN SELECT RAISE(ABORT, 'ledger_transfers is append-only'); END;
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger_accounts rows are never deleted'); END;
CREATE TRIGGER ledger_accounts_fixed_identity BEFORE UPDATE ON ledger_accounts
WHEN NEW.key IS NOT OLD.key OR NEW.code IS NOT OLD.code OR NEW.flags IS NOT OLD.flags OR NEW.created_at IS NOT OLD.created_at
BEGIN SELECT RAISE(ABORT, 'ledger account key, code and flags never change'); END;
