package desk

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/uscc"
)

// Enterprise is an applicant, known by its 统一社会信用代码.
type Enterprise struct {
	USCC       string `json:"uscc"`
	Name       string `json:"name"`
	BankName   string `json:"bank_name"`
	BankMasked string `json:"bank_account_masked"`
	BankFull   string `json:"bank_account,omitempty"` // finance only
}

// Fact is one dated fact about an enterprise, with where it came from.
type Fact struct {
	Name       string          `json:"name"`
	Value      json.RawMessage `json:"value"`
	Source     string          `json:"source"`
	AsOf       string          `json:"as_of"`
	RecordedBy string          `json:"recorded_by"`
}

// Fact sources.
const (
	SourceSelf     = "self_declared"
	SourceImported = "imported_list"
	SourceReviewer = "reviewer"
)

func validUSCC(code string) error {
	if uscc.Validate(code) != nil {
		return apperr.Newf(apperr.Invalid, "统一社会信用代码 %q 无效(18位,校验位须正确)", "credit code %q is invalid", code).WithField("uscc")
	}
	return nil
}

// canSeeEnterprise is the row scope of enterprise data.
func canSeeEnterprise(a Actor, code string) bool {
	switch a.Role {
	case RoleAdmin, RoleFinance, RoleReviewer:
		return true
	case RoleEnterprise:
		return a.Enterprise == code
	}
	return false
}

// RegisterEnterprise records an enterprise (admin, or the enterprise's own
// user on first sign-in). Registering an existing one is a no-op that
// updates nothing.
func (s *Service) RegisterEnterprise(ctx context.Context, a Actor, code, name string) (Enterprise, error) {
	if err := validUSCC(code); err != nil {
		return Enterprise{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return Enterprise{}, apperr.New(apperr.Invalid, "企业名称不能为空且不超过200字", "name must be 1–200 characters").WithField("name")
	}
	if a.Role != RoleAdmin && !(a.Role == RoleEnterprise && a.Enterprise == code) {
		return Enterprise{}, forbidden()
	}
	now := s.now()
	e := Enterprise{USCC: code, Name: name}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var existing string
		err := tx.QueryRow(ctx, `SELECT name FROM desk_enterprises WHERE uscc = ?`, code).Scan(&existing)
		if err == nil {
			e.Name = existing
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO desk_enterprises (uscc, name, created_at, updated_at) VALUES (?, ?, ?, ?)`, code, name, nanos(now), nanos(now)); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "enterprise.register", "enterprise", code, code, nil, e)
	})
	return e, err
}

// GetEnterprise returns an enterprise; the bank account in full only to
// finance.
func (s *Service) GetEnterprise(ctx context.Context, a Actor, code string) (Enterprise, error) {
	if !canSeeEnterprise(a, code) {
		return Enterprise{}, notFound("企业")
	}
	var e Enterprise
	var sealed string
	err := s.db.QueryRow(ctx, `SELECT uscc, name, bank_name, bank_account, bank_masked FROM desk_enterprises WHERE uscc = ?`, code).
		Scan(&e.USCC, &e.Name, &e.BankName, &sealed, &e.BankMasked)
	if errors.Is(err, sql.ErrNoRows) {
		return e, notFound("企业")
	}
	if err != nil {
		return e, err
	}
	if a.Role == RoleFinance {
		if e.BankFull, err = s.cipher.open(sealed, "bank:"+code); err != nil {
			return e, apperr.Wrap(err, apperr.Internal, "银行账户无法解密", "bank account cannot be decrypted")
		}
	}
	return e, nil
}

// SetBankAccount stores the enterprise's account, SM4-encrypted; only the
// enterprise itself or an admin may change it.
func (s *Service) SetBankAccount(ctx context.Context, a Actor, code, bankName, account string) error {
	if !(a.Role == RoleEnterprise && a.Enterprise == code) && a.Role != RoleAdmin {
		return forbidden()
	}
	account = strings.ReplaceAll(strings.TrimSpace(account), " ", "")
	if len(account) < 8 || len(account) > 34 || strings.Trim(account, "0123456789") != "" {
		return apperr.New(apperr.Invalid, "银行账号应为8–34位数字", "bank account must be 8–34 digits").WithField("bank_account")
	}
	bankName = strings.TrimSpace(bankName)
	if bankName == "" || utf8.RuneCountInString(bankName) > 100 {
		return apperr.New(apperr.Invalid, "请填写开户银行", "bank name is required").WithField("bank_name")
	}
	sealed, err := s.cipher.seal(account, "bank:"+code)
	if err != nil {
		return err
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		var oldMasked string
		if err := tx.QueryRow(ctx, `SELECT bank_masked FROM desk_enterprises WHERE uscc = ?`, code).Scan(&oldMasked); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("企业")
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_enterprises SET bank_name = ?, bank_account = ?, bank_masked = ?, updated_at = ? WHERE uscc = ?`,
			bankName, sealed, Mask(account), nanos(now), code); err != nil {
			return err
		}
		// The audit row holds masked numbers only.
		return s.record(ctx, tx, now, a, "enterprise.bank_account", "enterprise", code, code,
			map[string]string{"bank_account": oldMasked}, map[string]string{"bank_name": bankName, "bank_account": Mask(account)})
	})
}

// SetFacts records dated facts about an enterprise. Enterprises declare
// their own (self_declared); reviewers and admins record checked facts
// (reviewer) and imported lists (imported_list). Values are checked
// against the policy's enterprise facts.
func (s *Service) SetFacts(ctx context.Context, a Actor, code string, facts map[string]json.RawMessage, source, asOf string) error {
	switch {
	case a.Role == RoleEnterprise && a.Enterprise == code && source == SourceSelf:
	case (a.Role == RoleReviewer || a.Role == RoleAdmin) && (source == SourceReviewer || source == SourceImported):
	default:
		return forbidden()
	}
	now := s.now()
	if asOf == "" {
		asOf = today(now).String()
	}
	if _, err := policy.ParseDate(asOf); err != nil {
		return apperr.New(apperr.Invalid, "日期应为 YYYY-MM-DD", "as_of must be YYYY-MM-DD").WithField("as_of")
	}
	if len(facts) == 0 {
		return apperr.New(apperr.Invalid, "没有要记录的事实", "no facts given").WithField("facts")
	}
	names := make([]string, 0, len(facts))
	for n, raw := range facts {
		spec := s.bundle.EnterpriseFact(n)
		if spec == nil {
			return apperr.Newf(apperr.Invalid, "未知的企业事实 %q", "unknown enterprise fact %q", n).WithField("facts." + n)
		}
		if _, ie := convertJSON(spec, raw, "facts."+n); ie != nil {
			return apperr.New(apperr.Invalid, ie.Message, ie.MessageEn).WithField(ie.Path)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM desk_enterprises WHERE uscc = ?`, code).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("企业")
			}
			return err
		}
		after := map[string]json.RawMessage{}
		for _, n := range names {
			v := compactJSON(facts[n])
			if _, err := tx.Exec(ctx, `INSERT INTO desk_facts (uscc, name, value, source, as_of, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				code, n, v, source, asOf, a.ID, nanos(now)); err != nil {
				return err
			}
			after[n] = json.RawMessage(v)
		}
		return s.record(ctx, tx, now, a, "enterprise.facts", "enterprise", code, code, nil, map[string]any{"source": source, "as_of": asOf, "facts": after})
	})
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// convertJSON checks a JSON value against a fact spec.
func convertJSON(spec *policy.FactSpec, raw json.RawMessage, path string) (policy.Value, *policy.InputError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return policy.Value{}, &policy.InputError{Code: policy.CodeInvalidValue, Path: path, Message: path + " 不是有效的 JSON 值", MessageEn: path + " is not valid JSON"}
	}
	return policy.ConvertFact(spec, policy.JSONRaw(v), path)
}

// Facts returns the enterprise's facts in force on date (the latest as_of
// on or before it), with their sources.
func (s *Service) Facts(ctx context.Context, a Actor, code string, on policy.Date) ([]Fact, error) {
	if !canSeeEnterprise(a, code) {
		return nil, notFound("企业")
	}
	return s.facts(ctx, s.db, code, on)
}

type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Service) facts(ctx context.Context, q querier, code string, on policy.Date) ([]Fact, error) {
	rows, err := q.Query(ctx, `SELECT name, value, source, as_of, recorded_by FROM desk_facts WHERE uscc = ? AND as_of <= ? ORDER BY name, as_of, id`, code, on.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	latest := map[string]Fact{}
	var order []string
	for rows.Next() {
		var f Fact
		var v string
		if err := rows.Scan(&f.Name, &v, &f.Source, &f.AsOf, &f.RecordedBy); err != nil {
			return nil, err
		}
		f.Value = json.RawMessage(v)
		if _, seen := latest[f.Name]; !seen {
			order = append(order, f.Name)
		}
		latest[f.Name] = f
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Fact, 0, len(order))
	for _, n := range order {
		out = append(out, latest[n])
	}
	return out, nil
}

// enterpriseFacts converts stored facts into the engine's typed facts.
func (s *Service) enterpriseFacts(fs []Fact) policy.Facts {
	out := policy.Facts{}
	for _, f := range fs {
		spec := s.bundle.EnterpriseFact(f.Name)
		if spec == nil {
			continue
		}
		if v, ie := convertJSON(spec, f.Value, f.Name); ie == nil {
			out[f.Name] = v
		}
	}
	return out
}
