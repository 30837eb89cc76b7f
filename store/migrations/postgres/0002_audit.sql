-- 0002: the audit trail (package audit). Append-only and hash-chained with
-- SM3: hash = SM3(prev_hash || canonical encoding of the row, seq included),
-- so `policydesk audit verify` detects a row edited, deleted, inserted or
-- reordered even by someone who drops the triggers below.
-- at_us is Unix microseconds, UTC (to_timestamp(at_us / 1e6) to read it):
-- the precision that is hashed, so both engines store what was hashed.

-- One row: the newest link of the chain. Append locks it FOR UPDATE in the
-- caller's transaction, links the new row to it and advances it, so two
-- concurrent transactions cannot fork the chain, and a rolled-back one
-- leaves neither a row nor a gap. seq 0 with a zero hash is the genesis.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL CHECK (seq >= 0),
    hash BYTEA NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- before_json and after_json are compact JSON, NULL when absent. They are
-- TEXT, not jsonb, so that the bytes read back are the bytes hashed (jsonb
-- would reorder keys and drop duplicates).
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY CHECK (seq > 0),
    at_us       BIGINT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    enterprise  TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    request_id  TEXT NOT NULL,
    prev_hash   BYTEA NOT NULL CHECK (length(prev_hash) = 32),
    hash        BYTEA NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, seq);
CREATE INDEX audit_log_enterprise ON audit_log (enterprise, seq);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_at ON audit_log (at_us);

-- Append-only: rows are never updated, deleted or truncated.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- A new row must extend the head: the chain cannot fork or skip.
CREATE FUNCTION audit_log_extends_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_seq  BIGINT;
    head_hash BYTEA;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1;
    IF NEW.seq IS DISTINCT FROM head_seq + 1 OR NEW.prev_hash IS DISTINCT FROM head_hash THEN
        RAISE EXCEPTION 'audit_log: row % does not extend the chain head %', NEW.seq, head_seq;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_extends_head BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_extends_head();

-- The head moves one step at a time, onto the row just appended.
CREATE FUNCTION audit_head_advances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.seq IS DISTINCT FROM OLD.seq + 1
       OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash) THEN
        RAISE EXCEPTION 'audit_head only advances to the newest audit_log row';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_head_advances BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_advances();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
