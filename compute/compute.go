// Package compute runs the compute and model vouchers (算力券 第一条, 模型券
// 第八条) and the domestic AI-chip servers of 第二条 on the zone's compute
// scheduling platform (经开区算力调度平台): the provider registry and its
// whitelist, listings of resource pools, service contracts, voucher claims
// (申领, through the workflow of package desk), settlement records from the
// providers' metering exports with bilateral confirmation, redemption (兑付)
// against the ledger's reservations, and the platform's statistics.
//
// Every method takes the caller as a desk.Actor and scopes rows itself: a
// provider (Role provider, Enterprise = its 统一社会信用代码) sees its own
// listings, contracts and records; an enterprise its own contracts, claims
// and vouchers; reviewers and finance read everything; the admin keeps the
// whitelist, the vendor list and the scenarios. Errors are *apperr.Error
// with Chinese messages; every change writes its audit row in its
// transaction.
package compute

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/audit"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/policy"
	"policydesk/store"
)

// Ratio is an exact fraction, e.g. {20, 100} for 20%.
type Ratio struct {
	Num, Den int64
}

// Options configure a Service. The zero value is usable.
type Options struct {
	Now func() time.Time // the clock; time.Now by default
	// ClaimShare is the most one claim may take of a contract's amount
	// (Beijing's city-level 算力券: 20% per claim). Default 1/1: a claim
	// may cover the whole contract.
	ClaimShare Ratio
	// MinListedDays is how long domestic servers must have been listed,
	// without interruption, before 第二条 counts them. Default 90.
	MinListedDays int
	// GraceDays is how long after a voucher's expiry (the contract's end
	// or the close of the claim's year) confirmed records may still be
	// redeemed before the rest of the reservation is released. Default 0.
	GraceDays int
	// MaxImportRows bounds one import. Default 5,000,000.
	MaxImportRows int
	// InsertRows is the number of rows per multi-row INSERT on SQLite.
	// Default 500.
	InsertRows int
	Logger     *slog.Logger
}

// Service is the compute platform.
type Service struct {
	db     *store.DB
	led    *ledger.Ledger
	desk   *desk.Service
	bundle *policy.Bundle
	opt    Options
}

// New returns the platform on the workflow's database, ledger and policy.
// It makes its payable redemptions lines of the workflow's payment batches
// (desk.Service.SetPayables).
func New(d *desk.Service, opt Options) (*Service, error) {
	if d == nil {
		return nil, errors.New("compute: the workflow is required")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ClaimShare.Num == 0 && opt.ClaimShare.Den == 0 {
		opt.ClaimShare = Ratio{1, 1}
	}
	if opt.ClaimShare.Num <= 0 || opt.ClaimShare.Den <= 0 || opt.ClaimShare.Num > opt.ClaimShare.Den {
		return nil, errors.New("compute: the claim share must be a fraction in (0, 1]")
	}
	if opt.MinListedDays <= 0 {
		opt.MinListedDays = 90
	}
	if opt.GraceDays < 0 {
		return nil, errors.New("compute: grace days must not be negative")
	}
	if opt.MaxImportRows <= 0 {
		opt.MaxImportRows = 5_000_000
	}
	if opt.InsertRows <= 0 {
		opt.InsertRows = 500
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Service{db: d.DB(), led: d.Ledger(), desk: d, bundle: d.Bundle(), opt: opt}
	// Finance pays redemptions through the workflow's payment batches.
	d.SetPayables(s)
	return s, nil
}

// DB is the platform's database.
func (s *Service) DB() *store.DB { return s.db }

func (s *Service) now() time.Time { return s.opt.Now().UTC() }

var beijing = time.FixedZone("CST", 8*3600)

// today is the calendar date in Beijing, where the zone works.
func today(now time.Time) policy.Date { return policy.DateOf(now.In(beijing)) }

// reader is the workflow's view for compute's own reads of applications:
// compute decides nothing there, it only follows a claim's state.
var reader = desk.Actor{ID: "system:compute", Role: desk.RoleAdmin}

// record writes the audit row of a change in the change's transaction.
func (s *Service) record(ctx context.Context, tx *store.Tx, now time.Time, a desk.Actor, action, entity, id, uscc string, before, after any) error {
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

// Roles and scopes.

func isAdmin(a desk.Actor) bool { return a.Role == desk.RoleAdmin }

// isStaff may read everything: the zone's own people.
func isStaff(a desk.Actor) bool {
	switch a.Role {
	case desk.RoleAdmin, desk.RoleReviewer, desk.RoleFinance, desk.RoleSystem:
		return true
	}
	return false
}

func isProvider(a desk.Actor) bool   { return a.Role == desk.RoleProvider && a.Enterprise != "" }
func isEnterprise(a desk.Actor) bool { return a.Role == desk.RoleEnterprise && a.Enterprise != "" }

func forbidden() *apperr.Error {
	return apperr.New(apperr.Forbidden, "无权执行此操作", "not allowed")
}

func notFound(zh, en string) *apperr.Error {
	return apperr.New(apperr.NotFound, zh+"不存在", en+" not found")
}

func invalid(field, zh, en string) *apperr.Error {
	return apperr.New(apperr.Invalid, zh, en).WithField(field)
}

func conflict(zh, en string) *apperr.Error { return apperr.New(apperr.Conflict, zh, en) }

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a random id with a readable prefix: ctr_5k2q…
func newID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("compute: no randomness: " + err.Error())
	}
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func timePtr(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := fromNanos(*n)
	return &t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseDay reads a YYYY-MM-DD date of a form field.
func parseDay(field, s string) (policy.Date, error) {
	d, err := policy.ParseDate(strings.TrimSpace(s))
	if err != nil {
		return 0, apperr.Newf(apperr.Invalid, "日期 %q 无效,应为 YYYY-MM-DD", "date %q is invalid; want YYYY-MM-DD", s).WithField(field)
	}
	return d, nil
}

// text trims s and checks its length in characters.
func text(field, s string, min, max int) (string, error) {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "", apperr.New(apperr.Invalid, fieldLabel(field)+"含有无效字符(NUL 或非 UTF-8 编码)", field+" holds NUL or invalid UTF-8").WithField(field)
	}
	s = strings.TrimSpace(s)
	n := len([]rune(s))
	if n < min || n > max {
		label := fieldLabel(field)
		if min > 0 && n == 0 {
			return "", apperr.New(apperr.Invalid, label+"不能为空", field+" is required").WithField(field)
		}
		return "", apperr.New(apperr.Invalid, fmt.Sprintf("%s长度应为 %d–%d 字", label, min, max), fmt.Sprintf("%s must be %d–%d characters", field, min, max)).WithField(field)
	}
	return s, nil
}

// fieldLabel is the Chinese name of an input field, for messages.
func fieldLabel(field string) string {
	if l, ok := fieldLabels[field]; ok {
		return l
	}
	return field
}

var fieldLabels = map[string]string{
	"name": "名称", "contact": "联系方式", "number": "合同编号", "title": "合同名称", "chip_model": "芯片型号",
	"location": "部署地点", "reason": "理由", "project": "项目", "contract_no": "合同编号", "seller": "销售方",
	"relation": "关联关系", "code": "编码", "note": "说明",
}

// ledgerErr maps a database or ledger failure behind a coded error.
func ledgerErr(err error) error {
	var le *ledger.Error
	if errors.As(err, &le) {
		code := apperr.Internal
		switch le.Code {
		case ledger.CodeInsufficientFunds:
			code = apperr.InsufficientFunds
		case ledger.CodeExceedsCap:
			code = apperr.ExceedsCap
		case ledger.CodeConflict, ledger.CodeAlreadyResolved, ledger.CodeExpired:
			code = apperr.Conflict
		case ledger.CodeNotFound:
			code = apperr.NotFound
		case ledger.CodeInvalid:
			code = apperr.Invalid
		}
		return apperr.Wrap(err, code, "账本:"+le.Message, "ledger: "+le.MessageEN)
	}
	return err
}
