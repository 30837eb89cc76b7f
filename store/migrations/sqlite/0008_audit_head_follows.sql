-- 0008: appending an audit row advances the chain head by itself (an AFTER
-- INSERT trigger), as on PostgreSQL, where this saves a round trip under
-- the head's lock. The guards of 0002 stay: a row must extend the head, and
-- the head moves one step at a time onto the row just appended.
CREATE TRIGGER audit_log_advance_head AFTER INSERT ON audit_log
BEGIN UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END;
