package desk

import (
	"context"
	"strings"
)

// Reconciliation is what Reconcile found and did.
type Reconciliation struct {
	Enterprises int      `json:"enterprises"`
	Released    []string `json:"released"` // orphan reservations given back to the pool
	Missing     []string `json:"missing"`  // applications that should hold a reservation but do not
	Checked     int      `json:"checked"`  // grants checked
}

// Reconcile repairs what a crash between a ledger call and the desk
// transaction that follows it can leave behind. The ledger step comes first
// and is idempotent, so the only possible leftover is a reservation whose
// application did not move (or moved on): it is released. An application
// that should hold money but has no reservation is reported, never guessed.
// The server runs it at start; it is safe to run at any time.
func (s *Service) Reconcile(ctx context.Context) (Reconciliation, error) {
	var rep Reconciliation
	rows, err := s.db.Query(ctx, `SELECT DISTINCT uscc FROM desk_applications`)
	if err != nil {
		return rep, err
	}
	var codes []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return rep, err
		}
		codes = append(codes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, err
	}
	for _, code := range codes {
		rep.Enterprises++
		grants, err := s.led.History(ctx, code)
		if err != nil {
			return rep, err
		}
		reserved := map[string]bool{}
		for _, g := range grants {
			rep.Checked++
			if g.State != "reserved" {
				continue
			}
			reserved[g.GrantID] = true
			appID, _, _ := strings.Cut(g.GrantID, "/")
			var state, grantID string
			err := s.db.QueryRow(ctx, `SELECT state, grant_id FROM desk_applications WHERE id = ?`, appID).Scan(&state, &grantID)
			if err != nil {
				continue // not a desk grant (e.g. compute redemptions keep their own)
			}
			if grantID == "" {
				grantID = appID
			}
			if holdsReservation(state) && grantID == g.GrantID {
				continue
			}
			if err := s.release(ctx, g.GrantID); err != nil {
				return rep, err
			}
			rep.Released = append(rep.Released, g.GrantID)
		}
		arows, err := s.db.Query(ctx, `SELECT id, state, grant_id FROM desk_applications WHERE uscc = ?`, code)
		if err != nil {
			return rep, err
		}
		for arows.Next() {
			var id, state, grantID string
			if err := arows.Scan(&id, &state, &grantID); err != nil {
				arows.Close()
				return rep, err
			}
			if grantID == "" {
				grantID = id
			}
			if holdsReservation(state) && !reserved[grantID] {
				rep.Missing = append(rep.Missing, id)
			}
		}
		arows.Close()
	}
	return rep, nil
}
