// Package desk is the workflow of policydesk: enterprises and their dated
// facts, application rounds, applications from draft to payment, review,
// 公示 and objections, payment batches and clawbacks — every change in one
// transaction with its audit row, every yuan through the ledger.
//
// The rules come from package policy and the money moves through package
// ledger; desk decides nothing about amounts itself.
package desk

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"policydesk/apperr"
	"policydesk/audit"
	"policydesk/ledger"
	"policydesk/policy"
	"policydesk/store"
)

// Roles, as the web layer's principals carry them.
const (
	RoleEnterprise = "enterprise"
	RoleProvider   = "provider"
	RoleReviewer   = "reviewer"
	RoleExpert     = "expert"
	RoleFinance    = "finance"
	RoleAdmin      = "admin"
	RoleSystem     = "system" // the server's own scheduler
	RolePublic     = "public" // an anonymous visitor (objections)
)

// Actor is who calls a service method. Row scoping uses Enterprise (for
// enterprise users) and Department (for reviewers).
type Actor struct {
	ID         string
	Role       string
	Enterprise string
	Department string
	RequestID  string
}

// System is the actor of the server's scheduler.
var System = Actor{ID: "system", Role: RoleSystem}

// Calendar counts working days for 公示 windows.
type Calendar interface {
	// AddWorkdays returns the last working day of a window of n working
	// days starting on from (from counts when it is a working day).
	AddWorkdays(from time.Time, n int) time.Time
	IsWorkday(d time.Time) bool
}

// Options configure a Service.
type Options struct {
	Now               func() time.Time // the clock; time.Now by default
	Calendar          Calendar         // working days; weekends only when nil
	PublicityWorkdays int              // 公示 window, 5 by default
	MaxUpload         int64            // bytes per material, 20 MiB by default
	Key               []byte           // 16-byte SM4 key for bank accounts at rest
	Experts           func(ctx context.Context) ([]string, error)
	Logger            *slog.Logger
	// ConsolidateBy is "median" (default) or "chair".
	ConsolidateBy string
	// WebhookURL, when set, receives every notification as an HTTP POST
	// signed with HMAC-SHA256 of WebhookSecret (header X-Policydesk-Signature),
	// so a zone can connect its SMS or e-mail gateway.
	WebhookURL    string
	WebhookSecret string
	// PaidElsewhere, when set, says why an approved application is not paid
	// through a payment batch ("" when it is): a compute or model voucher
	// claim is redeemed against settlements instead, never paid whole.
	PaidElsewhere func(ctx context.Context, tx *store.Tx, applicationID string) (string, error)
}

// Service is the workflow.
type Service struct {
	db     *store.DB
	led    *ledger.Ledger
	bundle *policy.Bundle
	opt    Options
	cipher *fieldCipher
	// payables are paid through batches beside awards (SetPayables).
	payables Payables
}

// New returns the workflow on db, ledger and bundle.
func New(db *store.DB, led *ledger.Ledger, bundle *policy.Bundle, opt Options) (*Service, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.PublicityWorkdays <= 0 {
		opt.PublicityWorkdays = 5
	}
	if opt.MaxUpload <= 0 {
		opt.MaxUpload = 20 << 20
	}
	if opt.Calendar == nil {
		opt.Calendar = weekends{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ConsolidateBy == "" {
		opt.ConsolidateBy = "median"
	}
	c, err := newFieldCipher(opt.Key)
	if err != nil {
		return nil, err
	}
	return &Service{db: db, led: led, bundle: bundle, opt: opt, cipher: c}, nil
}

// Bundle is the policy the service runs.
func (s *Service) Bundle() *policy.Bundle { return s.bundle }

// Ledger is the ledger the service moves money through.
func (s *Service) Ledger() *ledger.Ledger { return s.led }

// DB is the service's database.
func (s *Service) DB() *store.DB { return s.db }

func (s *Service) now() time.Time { return s.opt.Now().UTC() }

// today is the calendar date in Beijing time, where the zone works.
func today(now time.Time) policy.Date { return policy.DateOf(now.In(beijing)) }

var beijing = time.FixedZone("CST", 8*3600)

// weekends is the fallback calendar: Monday to Friday.
type weekends struct{}

func (weekends) IsWorkday(d time.Time) bool {
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

func (w weekends) AddWorkdays(from time.Time, n int) time.Time {
	d := from
	for !w.IsWorkday(d) {
		d = d.AddDate(0, 0, 1)
	}
	for n > 1 {
		d = d.AddDate(0, 0, 1)
		if w.IsWorkday(d) {
			n--
		}
	}
	return d
}

// record writes the audit row of a change in the change's transaction.
func (s *Service) record(ctx context.Context, tx *store.Tx, now time.Time, a Actor, action, entity, id, uscc string, before, after any) error {
	e := audit.Entry{At: now, ActorID: a.ID, ActorRole: a.Role, Action: action, Entity: entity, EntityID: id, Enterprise: uscc, RequestID: a.RequestID}
	if before != nil {
		e.Before, _ = json.Marshal(before)
	}
	if after != nil {
		e.After, _ = json.Marshal(after)
	}
	if _, err := audit.Append(ctx, tx, e); err != nil {
		return apperr.Wrap(err, apperr.Internal, "写入审计记录失败", "cannot write the audit row")
	}
	return nil
}

func forbidden() *apperr.Error {
	return apperr.New(apperr.Forbidden, "无权执行此操作", "not allowed")
}

func notFound(what string) *apperr.Error {
	return apperr.Newf(apperr.NotFound, "%s不存在", "%s not found", what)
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

type jsonRaw = json.RawMessage

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
