-- 0001: the ledger (package ledger). TigerBeetle's model: accounts hold
-- posted and pending debits and credits; transfers are immutable entries.
-- Amounts are int64 fen; times are Unix nanoseconds (UTC).

-- One row. version grows with every committed ledger batch, so a ledger
-- instance that finds a version it did not write knows its in-memory cache
-- is stale (another process wrote). Every batch locks this row FOR UPDATE
-- first: that lock is what serialises ledger writers of several processes.
CREATE TABLE ledger_meta (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL,
    last_seq BIGINT NOT NULL
);
INSERT INTO ledger_meta (id, version, last_seq) VALUES (1, 0, 0);

-- flags: 1 debits_must_not_exceed_credits, 2 credits_must_not_exceed_debits.
-- The bounds are CHECK constraints too, so not even a bug in the batcher
-- can store an overdrawn pool or cap.
CREATE TABLE ledger_accounts (
    key             TEXT PRIMARY KEY,
    code            INTEGER NOT NULL CHECK (code > 0),
    flags           INTEGER NOT NULL CHECK ((flags & 3) <> 3 AND flags >= 0),
    debits_pending  BIGINT NOT NULL CHECK (debits_pending >= 0),
    debits_posted   BIGINT NOT NULL CHECK (debits_posted >= 0),
    credits_pending BIGINT NOT NULL CHECK (credits_pending >= 0),
    credits_posted  BIGINT NOT NULL CHECK (credits_posted >= 0),
    created_at      BIGINT NOT NULL,
    CHECK ((flags & 1) = 0 OR debits_pending::numeric + debits_posted <= credits_posted),
    CHECK ((flags & 2) = 0 OR credits_pending::numeric + credits_posted <= debits_posted)
);

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
    seq            BIGINT PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    debit_account  TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    pending_id     TEXT,
    flags          INTEGER NOT NULL CHECK (flags IN (0, 2, 4, 8)),
    expires_at     BIGINT,
    code           INTEGER NOT NULL,
    user_data      TEXT NOT NULL,
    hash           BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
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
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_accounts_fixed_identity BEFORE UPDATE ON ledger_accounts
    FOR EACH ROW
    WHEN (NEW.key IS DISTINCT FROM OLD.key OR NEW.code IS DISTINCT FROM OLD.code
          OR NEW.flags IS DISTINCT FROM OLD.flags OR NEW.created_at IS DISTINCT FROM OLD.created_at)
    EXECUTE FUNCTION ledger_append_only();
