package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"policydesk/store"
)

// CheckReport is what Check found.
type CheckReport struct {
	Acks        int // acknowledged requests checked
	Submissions int // acknowledged submissions, each stored exactly once
	Problems    []string
	VerifyResult
}

// OK reports whether every check passed.
func (r CheckReport) OK() bool {
	return len(r.Problems) == 0 && r.Ledger.OK() && r.Audit.OK()
}

// Err is nil when OK, else the first problems.
func (r CheckReport) Err() error {
	if r.OK() {
		return nil
	}
	var errs []error
	for i, p := range r.Problems {
		if i == 10 {
			errs = append(errs, fmt.Errorf("… and %d more", len(r.Problems)-10))
			break
		}
		errs = append(errs, errors.New(p))
	}
	return errors.Join(append(errs, r.VerifyResult.Err())...)
}

// Check verifies on db that every acknowledged request is durable and
// every acknowledged submission is stored exactly once, then runs the
// ledger's and the audit chain's verification:
//
//   - a created draft exists; an uploaded material exists; a signed
//     commitment is recorded;
//   - a submission's idempotency key is stored once, for that application,
//     and the audit trail holds exactly one application.submitted row per
//     acknowledged submission of the application (a retried or replayed
//     submit adds none);
//   - every acknowledged review step (accept, return, propose) left the
//     audit row of the state it answered;
//   - every acknowledged metering import is stored with exactly the rows
//     it acknowledged.
//
// The error is for a database that could not be read.
func Check(ctx context.Context, db *store.DB, acks []Ack) (CheckReport, error) {
	rep := CheckReport{Acks: len(acks)}
	moves := map[[2]string]int{} // (application, action) → audit rows
	apps := map[string]bool{}    // application → commitment signed
	mats := map[string]bool{}
	keys := map[string]string{}    // idempotency key → application in its stored answer
	imports := map[string][2]int{} // import → rows it says it stored, rows stored
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT entity_id, action, COUNT(*) FROM audit_log WHERE entity = 'application' GROUP BY entity_id, action`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, action string
			var n int
			if err := rows.Scan(&id, &action, &n); err != nil {
				rows.Close()
				return err
			}
			moves[[2]string{id, action}] = n
		}
		rows.Close()
		if rows, err = tx.Query(ctx, `SELECT id, commitment_at IS NOT NULL FROM desk_applications`); err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var signed bool
			if err := rows.Scan(&id, &signed); err != nil {
				rows.Close()
				return err
			}
			apps[id] = signed
		}
		rows.Close()
		if rows, err = tx.Query(ctx, `SELECT id FROM desk_materials`); err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			mats[id] = true
		}
		rows.Close()
		if rows, err = tx.Query(ctx, `SELECT i.id, i.imported, (SELECT COUNT(*) FROM compute_settlements s WHERE s.import_id = i.id) FROM compute_imports i`); err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var said, stored int
			if err := rows.Scan(&id, &said, &stored); err != nil {
				rows.Close()
				return err
			}
			imports[id] = [2]int{said, stored}
		}
		rows.Close()
		if rows, err = tx.Query(ctx, `SELECT key, response FROM desk_idempotency`); err != nil {
			return err
		}
		for rows.Next() {
			var key, resp string
			if err := rows.Scan(&key, &resp); err != nil {
				rows.Close()
				return err
			}
			var a struct {
				ID string `json:"id"`
			}
			json.Unmarshal([]byte(resp), &a)
			keys[key] = a.ID
		}
		rows.Close()
		return rows.Err()
	})
	if err != nil {
		return rep, err
	}
	bad := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	submits := map[string]map[string]bool{} // application → acknowledged keys
	for _, a := range acks {
		signed, exists := apps[a.App]
		switch a.Op {
		case OpCreate:
			if !exists {
				bad("acknowledged draft %s is not stored", a.App)
			}
		case OpUpload:
			if !mats[a.Material] {
				bad("acknowledged material %s of %s is not stored", a.Material, a.App)
			}
		case OpCommit:
			if !signed {
				bad("acknowledged commitment of %s is not stored", a.App)
			}
		case OpSubmit:
			if submits[a.App] == nil {
				submits[a.App] = map[string]bool{}
			}
			submits[a.App][a.Key] = true
			if got, ok := keys[a.Key]; !ok {
				bad("idempotency key %s of acknowledged submission %s is not stored", a.Key, a.App)
			} else if got != a.App {
				bad("idempotency key %s answers for %s, not %s", a.Key, got, a.App)
			}
		case OpSettle:
			got, ok := imports[a.Import]
			switch {
			case !ok:
				bad("acknowledged import %s is not stored", a.Import)
			case got[0] != a.Imported || got[1] != a.Imported:
				bad("import %s: %d rows acknowledged, %d recorded, %d stored", a.Import, a.Imported, got[0], got[1])
			}
		case OpAccept, OpReturn, OpPropose:
			if moves[[2]string{a.App, "application." + a.State}] == 0 {
				bad("acknowledged %s of %s (to %s) left no audit row", a.Op, a.App, a.State)
			}
		}
	}
	for app, ks := range submits {
		rep.Submissions += len(ks)
		if n := moves[[2]string{app, "application.submitted"}]; n != len(ks) {
			bad("application %s: %d acknowledged submission(s), %d stored", app, len(ks), n)
		}
	}
	rep.VerifyResult, err = Verify(ctx, db)
	return rep, err
}
