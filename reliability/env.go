package reliability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"policydesk/audit"
	"policydesk/auth"
	"policydesk/compute"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/web"
	"policydesk/web/computeapi"
	"policydesk/web/deskapi"
	"policydesk/web/portal"
)

// Key is the SM4 key of in-process environments (tests and benches only).
var Key = []byte("reliability-key!")

// Env is the whole server in-process, wired as `policydesk serve` wires
// it: ledger, workflow, compute platform, their JSON APIs and the pages on
// one route table.
type Env struct {
	DB      *store.DB
	Bundle  *policy.Bundle
	Ledger  *ledger.Ledger
	Desk    *desk.Service
	Compute *compute.Service
	Auth    *auth.Store
	Server  *web.Server
}

// EnvOptions configure an Env. Zero fields take the defaults.
type EnvOptions struct {
	Now    func() time.Time // the clock of every part; time.Now by default
	Logger *slog.Logger     // discarded by default
	// NoPortal leaves the HTML pages of package portal out.
	NoPortal bool
}

// NewEnv builds the server on db, which must be migrated. Close it.
func NewEnv(ctx context.Context, db *store.DB, opt EnvOptions) (*Env, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b, err := policy.Load(policies.Default())
	if err != nil {
		return nil, err
	}
	led, err := ledger.New(ctx, db, ledger.Options{})
	if err != nil {
		return nil, err
	}
	e := &Env{DB: db, Bundle: b, Ledger: led}
	e.Auth = auth.NewStoreWithOptions(db, auth.Options{Now: opt.Now, RequestID: web.RequestID, Logger: opt.Logger,
		ValidDepartment: func(id string) bool { return b.Department(id) != nil }})
	experts := func(ctx context.Context) ([]string, error) {
		us, err := e.Auth.Users(ctx, auth.RoleExpert)
		var ids []string
		for _, u := range us {
			if !u.Disabled {
				ids = append(ids, u.ID)
			}
		}
		return ids, err
	}
	// As serve wires it (cmd/policydesk/desk.go): a voucher claim is
	// redeemed against settlements, never paid whole in a batch.
	paidElsewhere := func(ctx context.Context, tx *store.Tx, id string) (string, error) {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM compute_claims WHERE application_id = ?`, id).Scan(&n); err != nil {
			return "", err
		}
		if n > 0 {
			return "算力券/模型券额度按已确认的结算记录兑付", nil
		}
		return "", nil
	}
	if e.Desk, err = desk.New(db, led, b, desk.Options{Now: opt.Now, Key: Key, Experts: experts, Logger: opt.Logger, PaidElsewhere: paidElsewhere}); err != nil {
		led.Close()
		return nil, err
	}
	if e.Server, err = web.New(web.Config{Now: opt.Now, Version: "reliability"}, web.Deps{DB: db, Bundle: b, Auth: e.Auth, Logger: opt.Logger}); err != nil {
		led.Close()
		return nil, err
	}
	if e.Compute, err = compute.New(e.Desk, compute.Options{Now: opt.Now, Logger: opt.Logger}); err != nil {
		led.Close()
		return nil, err
	}
	deskapi.Register(e.Server, e.Desk)
	computeapi.Register(e.Server, e.Compute)
	if !opt.NoPortal {
		if err := portal.Register(e.Server, e.Desk, e.Auth, portal.Options{Now: opt.Now}); err != nil {
			led.Close()
			return nil, err
		}
		portal.RegisterCompute(e.Server, e.Desk, e.Compute, portal.Options{Now: opt.Now})
	}
	return e, nil
}

// Close stops the ledger's batcher.
func (e *Env) Close() error { return e.Ledger.Close() }

// Setup is the principal that creates users in tests and benches.
var Setup = auth.Principal{UserID: "setup", Role: auth.RoleAdmin}

// AddUser creates a user with the cheap test password hash (see
// auth.TestParams): argon2id's 85 ms per hash would dominate a bench that
// signs in thousands of users. Hashes carry their own parameters, so the
// server verifies them as it verifies any other.
func AddUser(ctx context.Context, s *auth.Store, u auth.User, password string) (auth.User, error) {
	old := auth.SetParams(auth.TestParams)
	defer auth.SetParams(old)
	return s.AddUser(auth.NewContext(ctx, Setup), nil, u, password)
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	Ledger ledger.Report
	Audit  audit.Report
}

// Err names the first broken invariant of the ledger and of the audit
// chain; nil when both verify.
func (r VerifyResult) Err() error {
	var err error
	if !r.Ledger.OK() {
		p := r.Ledger.Problems[0]
		err = fmt.Errorf("ledger verify: %d problem(s), first [%s] %s: %s", len(r.Ledger.Problems)+r.Ledger.More, p.Check, p.Subject, p.Detail)
	}
	if !r.Audit.OK() {
		p := r.Audit.Problem
		err = errors.Join(err, fmt.Errorf("audit verify: seq %d [%s] %s", p.Seq, p.Kind, p.DetailEn))
	}
	return err
}

// Verify runs ledger.Verify and audit.Verify. The error is for a database
// that could not be read; broken invariants are in the result (Err).
func Verify(ctx context.Context, db *store.DB) (VerifyResult, error) {
	var r VerifyResult
	var err error
	if r.Ledger, err = ledger.Verify(ctx, db); err != nil {
		return r, fmt.Errorf("ledger verify: %w", err)
	}
	if r.Audit, err = audit.Verify(ctx, db); err != nil {
		return r, fmt.Errorf("audit verify: %w", err)
	}
	return r, nil
}
