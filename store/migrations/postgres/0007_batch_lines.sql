-- 0007: payment batches pay voucher redemptions (兑付, package compute)
-- beside awards: one four-eyes batch, one bank list, one place to record
-- the bank's answer. A line that is not an award is kept here (desk_payments
-- is keyed by application); line_id is the payable's own id, e.g. the
-- redemption's. A line is in at most one batch at a time: a failed transfer
-- frees it for another batch.
CREATE TABLE desk_batch_lines (
    batch_id       TEXT NOT NULL REFERENCES desk_batches (id),
    line_id        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    application_id TEXT NOT NULL DEFAULT '',
    uscc           TEXT NOT NULL,
    item           TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'paid', 'failed')),
    bank_ref       TEXT NOT NULL DEFAULT '',
    recorded_by    TEXT NOT NULL DEFAULT '',
    recorded_at    BIGINT,
    PRIMARY KEY (batch_id, line_id)
);
CREATE UNIQUE INDEX desk_batch_lines_live ON desk_batch_lines (line_id) WHERE state <> 'failed';

-- The batch a payable redemption is in ('' when none).
ALTER TABLE compute_redemptions ADD COLUMN batch_id TEXT NOT NULL DEFAULT '';
