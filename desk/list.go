package desk

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"policydesk/money"
	"policydesk/store"
)

// listSlots admits list queries in the order they arrive. database/sql
// hands a free connection to a random waiter, so under load (hundreds of
// page views at once on a pool of 8) a few unlucky requests wait many
// turns: the p99 is several times the median. Waiting here first, in a
// FIFO queue (blocked channel senders are woken in order), keeps the wait
// even. On SQLite at most 4 list queries run at once, fewer than the read
// pool holds, so that they seldom wait there, and more would not run
// faster on a few cores (SQLite's work is CPU in this process); on
// PostgreSQL, whose queries wait on the network, 16.
var (
	listSlotsSQLite   = fifoSlots(make(chan struct{}, 4))
	listSlotsPostgres = fifoSlots(make(chan struct{}, 16))
)

func (s *Service) listSlots() fifoSlots {
	if s.db.Dialect() == store.Postgres {
		return listSlotsPostgres
	}
	return listSlotsSQLite
}

type fifoSlots chan struct{}

func (s fifoSlots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s fifoSlots) release() { <-s }

// listScope is the WHERE clause (with its arguments) of the applications
// actor a may see that match f, over desk_applications aliased a: the row
// scope of List and ListSummaries.
func listScope(dialect string, a Actor, f Filter) (string, []any, error) {
	var where []string
	var args []any
	switch a.Role {
	case RoleAdmin, RoleFinance:
	case RoleEnterprise:
		where, args = append(where, "a.uscc = ?"), append(args, a.Enterprise)
	case RoleReviewer:
		// A substring test, not LIKE: SQLite re-prepares a statement whose
		// LIKE has a bound pattern at every execution (the pattern could
		// allow an index), which was a quarter of the review queue's CPU.
		contains := "instr(a.departments, ?) > 0"
		if dialect == store.Postgres {
			contains = "strpos(a.departments, ?) > 0"
		}
		where, args = append(where, contains), append(args, `"`+strings.ReplaceAll(a.Department, `"`, "")+`"`)
	case RoleExpert:
		where, args = append(where, "a.id IN (SELECT application_id FROM desk_panel WHERE expert_id = ? AND status <> 'recused')"), append(args, a.ID)
	default:
		return "", nil, forbidden()
	}
	if f.State != "" {
		where, args = append(where, "a.state = ?"), append(args, f.State)
	}
	if f.Item != "" {
		where, args = append(where, "a.item = ?"), append(args, f.Item)
	}
	if f.USCC != "" {
		where, args = append(where, "a.uscc = ?"), append(args, f.USCC)
	}
	if len(where) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(where, " AND "), args, nil
}

// listOrder is ORDER BY, LIMIT and OFFSET of a list: newest change first,
// at most 500 rows (100 when f names no limit).
func listOrder(f Filter) string {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return fmt.Sprintf(" ORDER BY a.updated_at DESC, a.id LIMIT %d OFFSET %d", f.Limit, max(f.Offset, 0))
}

// Summary is one application as a list shows it: who, what, where it
// stands and the amount, without the claim's facts and the snapshot with
// its trace (the large columns a list never shows).
type Summary struct {
	ID             string       `json:"id"`
	USCC           string       `json:"uscc"`            // empty for an expert who has not declared
	EnterpriseName string       `json:"enterprise_name"` // empty for an expert who has not declared
	Item           string       `json:"item"`
	ItemName       string       `json:"item_name"`
	Article        int          `json:"article"`
	OfferID        string       `json:"offer_id,omitempty"`
	State          string       `json:"state"`
	StateName      string       `json:"state_name"`
	Year           int          `json:"year"`
	Departments    []string     `json:"departments"`
	ReviewRequired bool         `json:"review_required"`
	Allowed        money.Amount `json:"allowed"`
	Proposed       money.Amount `json:"proposed"`
	Approved       money.Amount `json:"approved"`
	Paid           money.Amount `json:"paid"`
	Clawed         money.Amount `json:"clawed"`
	SubmittedAt    *time.Time   `json:"submitted_at,omitempty"`
	UpdatedAt      time.Time    `json:"updated_at"`
	PaidAt         *time.Time   `json:"paid_at,omitempty"`
	// Facts are the claim's facts, read only when the filter asks
	// (Filter.WithFacts) and never for experts.
	Facts map[string]json.RawMessage `json:"facts,omitempty"`
}

// Amount is what a list shows as the application's amount: paid, else
// approved, else proposed, else what the rules allow; 0 when none.
func (s Summary) Amount() money.Amount {
	switch {
	case s.Paid > 0:
		return s.Paid
	case s.Approved > 0:
		return s.Approved
	case s.Proposed > 0:
		return s.Proposed
	}
	return s.Allowed
}

const summaryColumns = `a.id, a.uscc, COALESCE(e.name, ''), a.item, a.offer_id, a.state, a.year, a.departments, a.review_required,
	a.allowed, a.proposed, a.approved, a.paid, a.clawed, a.submitted_at, a.updated_at, a.paid_at`

// ListSummaries returns the applications the actor may see that match f,
// newest change first, as lists show them, with the same row scope as
// List. Before declaring no conflict of interest, an expert sees neither
// the applicant's code nor its name.
func (s *Service) ListSummaries(ctx context.Context, a Actor, f Filter) ([]Summary, error) {
	where, args, err := listScope(s.db.Dialect(), a, f)
	if err != nil {
		return nil, err
	}
	cols := summaryColumns
	withFacts := f.WithFacts && a.Role != RoleExpert
	if withFacts {
		cols += `, a.facts`
	}
	q := `SELECT ` + cols + ` FROM desk_applications a LEFT JOIN desk_enterprises e ON e.uscc = a.uscc` + where + listOrder(f)
	slots := s.listSlots()
	if err := slots.acquire(ctx); err != nil {
		return nil, err
	}
	defer slots.release()
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var m Summary
		var offer sql.NullString
		var deps, facts string
		var review int
		var allowed, proposed, approved, paid, clawed, updated int64
		var submitted, paidAt sql.NullInt64
		dest := []any{&m.ID, &m.USCC, &m.EnterpriseName, &m.Item, &offer, &m.State, &m.Year, &deps, &review,
			&allowed, &proposed, &approved, &paid, &clawed, &submitted, &updated, &paidAt}
		if withFacts {
			dest = append(dest, &facts)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		m.OfferID = offer.String
		m.Departments = parseDepartments(deps)
		m.ReviewRequired = review != 0
		m.Allowed, m.Proposed, m.Approved, m.Paid, m.Clawed = money.Amount(allowed), money.Amount(proposed), money.Amount(approved), money.Amount(paid), money.Amount(clawed)
		m.UpdatedAt = fromNanos(updated)
		if submitted.Valid {
			t := fromNanos(submitted.Int64)
			m.SubmittedAt = &t
		}
		if paidAt.Valid {
			t := fromNanos(paidAt.Int64)
			m.PaidAt = &t
		}
		m.StateName = StateName(m.State)
		if it := s.bundle.Item(m.Item); it != nil {
			m.ItemName, m.Article = it.Name, it.Article
		}
		if withFacts {
			_ = json.Unmarshal([]byte(facts), &m.Facts)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if a.Role == RoleExpert && len(out) > 0 {
		if err := s.redactSummaries(ctx, a, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// redactSummaries blanks the applicant on the rows whose panel the expert
// has not yet declared on.
func (s *Service) redactSummaries(ctx context.Context, a Actor, out []Summary) error {
	rows, err := s.db.Query(ctx, `SELECT application_id FROM desk_panel WHERE expert_id = ? AND status = 'assigned'`, a.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	pending := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		pending[id] = true
	}
	for i := range out {
		if pending[out[i].ID] {
			out[i].USCC, out[i].EnterpriseName = "", ""
		}
	}
	return rows.Err()
}

// parseDepartments reads the departments column, a JSON list of ids such
// as ["info_tech","econ_dev"], without the reflection of encoding/json.
func parseDepartments(s string) []string {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil
	}
	var out []string
	for part := range strings.SplitSeq(s[1:len(s)-1], ",") {
		part = strings.TrimSpace(part)
		if len(part) < 2 || part[0] != '"' || part[len(part)-1] != '"' || strings.ContainsAny(part[1:len(part)-1], `"\`) {
			// Not the plain form: leave it to encoding/json.
			var v []string
			_ = json.Unmarshal([]byte(s), &v)
			return v
		}
		out = append(out, part[1:len(part)-1])
	}
	return out
}
