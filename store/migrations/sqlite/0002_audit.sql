-- 0002: the audit trail (package audit). Append-only and hash-chained with
-- SM3: hash = SM3(prev_hash || canonical encoding of the row, seq included),
-- so `policydesk audit verify` detects a row edited, deleted, inserted or
-- reordered even by someone who drops the triggers below.
-- at_us is Unix microseconds, UTC: the precision that is hashed, and the
-- precision PostgreSQL keeps, so both engines store what was hashed.

-- One row: the newest link of the chain. Append reads it, links the new row
-- to it and advances it in the caller's transaction; SQLite's single writer
-- serialises appends (PostgreSQL locks this row FOR UPDATE). seq 0 with a
-- zero hash is the genesis.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- before_json and after_json are compact JSON, NULL when absent. They are
-- TEXT, not JSON types, so that the bytes read back are the bytes hashed.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY CHECK (seq > 0),
    at_us       INTEGER NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    enterprise  TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    request_id  TEXT NOT NULL,
    prev_hash   BLOB NOT NULL CHECK (length(prev_hash) = 32),
    hash        BLOB NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, seq);
CREATE INDEX audit_log_enterprise ON audit_log (enterprise, seq);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_at ON audit_log (at_us);

-- Append-only: rows are never updated or deleted.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
-- A new row must extend the head: the chain cannot fork or skip.
CREATE TRIGGER audit_log_extends_head BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_head WHERE id = 1)
  OR NEW.prev_hash IS NOT (SELECT hash FROM audit_head WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'audit_log: a new row must extend the chain head'); END;
-- The head moves one step at a time, onto the row just appended.
CREATE TRIGGER audit_head_advances BEFORE UPDATE ON audit_head
WHEN NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq + 1
  OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash)
BEGIN SELECT RAISE(ABORT, 'audit_head only advances to the newest audit_log row'); END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'audit_head is never deleted'); END;
