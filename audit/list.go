package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"policydesk/store"
)

// Default and maximum page sizes of List.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects rows for List. Zero fields select everything; the fields
// given must all match. Row scoping (an enterprise sees only its own rows)
// is the caller's: set Enterprise for an enterprise user.
type Filter struct {
	Entity     string    // entity type, e.g. "application"
	EntityID   string    // with Entity: one entity's history
	Enterprise string    // 统一社会信用代码
	ActorID    string    // who made the changes
	Action     string    // e.g. "application.submit"
	From       time.Time // at ≥ From, when not zero
	To         time.Time // at < To, when not zero
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int
	// Offset skips that many matching rows.
	Offset int
	// Ascending lists oldest first; by default the newest row comes first.
	Ascending bool
}

// List returns the rows that match f, newest first unless f.Ascending.
// It reads committed rows and does not verify them: Verify does.
func List(ctx context.Context, db *store.DB, f Filter) ([]Row, error) {
	if f.Limit < 0 || f.Offset < 0 {
		return nil, invalid("分页参数不能为负数", "limit and offset must not be negative")
	}
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	f.Limit = min(f.Limit, MaxLimit)
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return nil, invalid("时间范围的起点须早于终点", "the time range must start before it ends").WithField("from")
	}
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("entity", f.Entity)
	eq("entity_id", f.EntityID)
	eq("enterprise", f.Enterprise)
	eq("actor_id", f.ActorID)
	eq("action", f.Action)
	if !f.From.IsZero() {
		where = append(where, "at_us >= ?")
		args = append(args, f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		where = append(where, "at_us < ?")
		args = append(args, f.To.UnixMicro())
	}
	q := `SELECT ` + rowColumns + ` FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Ascending {
		q += ` ORDER BY seq`
	} else {
		q += ` ORDER BY seq DESC`
	}
	q += ` LIMIT ? OFFSET ?`
	args = append(args, f.Limit, f.Offset)
	var out []Row
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRow(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}
