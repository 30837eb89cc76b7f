package desk

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// Application is one enterprise's application for one item.
type Application struct {
	ID   string `json:"id"`
	USCC string `json:"uscc"`
	// EnterpriseName is the applicant's registered name; Get fills it for
	// whoever may see the application (an expert once cleared).
	EnterpriseName string                     `json:"enterprise_name,omitempty"`
	Item           string                     `json:"item"`
	ItemName       string                     `json:"item_name"`
	Article        int                        `json:"article"`
	RoundID        string                     `json:"round_id,omitempty"`
	OfferID        string                     `json:"offer_id,omitempty"`
	GrantID        string                     `json:"grant_id,omitempty"`
	State          string                     `json:"state"`
	StateName      string                     `json:"state_name"`
	Facts          map[string]json.RawMessage `json:"facts"`
	Year           int                        `json:"year"`
	Project        string                     `json:"project,omitempty"`
	Departments    []string                   `json:"departments"`
	ReviewRequired bool                       `json:"review_required"`
	Snapshot       json.RawMessage            `json:"snapshot,omitempty"`
	Ceiling        money.Amount               `json:"ceiling"`
	Allowed        money.Amount               `json:"allowed"`
	Proposed       money.Amount               `json:"proposed"`
	Approved       money.Amount               `json:"approved"`
	Paid           money.Amount               `json:"paid"`
	Clawed         money.Amount               `json:"clawed"`
	Note           string                     `json:"note,omitempty"`
	CommitmentAt   *time.Time                 `json:"commitment_at,omitempty"`
	Version        int                        `json:"version"`
	CreatedAt      time.Time                  `json:"created_at"`
	SubmittedAt    *time.Time                 `json:"submitted_at,omitempty"`
	UpdatedAt      time.Time                  `json:"updated_at"`
	PaidAt         *time.Time                 `json:"paid_at,omitempty"`
}

const appColumns = `id, uscc, item, round_id, offer_id, grant_id, state, facts, year, project, departments, review_required, snapshot,
	ceiling, allowed, proposed, approved, paid, clawed, note, commitment_at, version, created_at, submitted_at, updated_at, paid_at`

type rowScanner interface{ Scan(dest ...any) error }

func (s *Service) scanApp(r rowScanner) (*Application, error) {
	var a Application
	var round, offer sql.NullString
	var facts, deps, snap string
	var review int
	var ceiling, allowed, proposed, approved, paid, clawed int64
	var commit, submitted, paidAt sql.NullInt64
	var created, updated int64
	if err := r.Scan(&a.ID, &a.USCC, &a.Item, &round, &offer, &a.GrantID, &a.State, &facts, &a.Year, &a.Project, &deps, &review, &snap,
		&ceiling, &allowed, &proposed, &approved, &paid, &clawed, &a.Note, &commit, &a.Version, &created, &submitted, &updated, &paidAt); err != nil {
		return nil, err
	}
	a.RoundID, a.OfferID = round.String, offer.String
	_ = json.Unmarshal([]byte(facts), &a.Facts)
	_ = json.Unmarshal([]byte(deps), &a.Departments)
	if snap != "" {
		a.Snapshot = json.RawMessage(snap)
	}
	a.ReviewRequired = review != 0
	a.Ceiling, a.Allowed, a.Proposed, a.Approved, a.Paid, a.Clawed = money.Amount(ceiling), money.Amount(allowed), money.Amount(proposed), money.Amount(approved), money.Amount(paid), money.Amount(clawed)
	a.CreatedAt, a.UpdatedAt = fromNanos(created), fromNanos(updated)
	if commit.Valid {
		t := fromNanos(commit.Int64)
		a.CommitmentAt = &t
	}
	if submitted.Valid {
		t := fromNanos(submitted.Int64)
		a.SubmittedAt = &t
	}
	if paidAt.Valid {
		t := fromNanos(paidAt.Int64)
		a.PaidAt = &t
	}
	a.StateName = StateName(a.State)
	if it := s.bundle.Item(a.Item); it != nil {
		a.ItemName, a.Article = it.Name, it.Article
	}
	if a.Facts == nil {
		a.Facts = map[string]json.RawMessage{}
	}
	return &a, nil
}

func (s *Service) loadApp(ctx context.Context, q store.Querier, id string) (*Application, error) {
	a, err := s.scanApp(q.QueryRow(ctx, `SELECT `+appColumns+` FROM desk_applications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("申请")
	}
	return a, err
}

// grant is the id of the ledger grant that holds (or will hold) the
// application's reservation.
func (a *Application) grant() string {
	if a.GrantID != "" {
		return a.GrantID
	}
	return a.ID
}

// canSee is the row scope of applications.
func canSee(a Actor, app *Application, onPanel bool) bool {
	switch a.Role {
	case RoleAdmin, RoleFinance:
		return true
	case RoleEnterprise:
		return a.Enterprise == app.USCC
	case RoleReviewer:
		return slices.Contains(app.Departments, a.Department)
	case RoleExpert:
		return onPanel
	}
	return false
}

// canReview says whether a reviewer works on the application's department.
func canReview(a Actor, app *Application) bool {
	if a.Role == RoleAdmin {
		return true
	}
	return a.Role == RoleReviewer && slices.Contains(app.Departments, a.Department)
}

// move changes an application's state with an optimistic version check,
// writes the timeline event and the audit row, in tx.
func (s *Service) move(ctx context.Context, tx *store.Tx, now time.Time, a Actor, app *Application, to, message string, set map[string]any) error {
	audit, err := s.moveUnaudited(ctx, tx, now, a, app, to, message, set)
	if err != nil {
		return err
	}
	return audit()
}

// moveUnaudited is move without the audit row, which it returns for the
// caller to write as the transaction's last statement: the row takes the
// audit chain's lock, which every audited write waits for until this
// transaction commits, so nothing else should run after it.
func (s *Service) moveUnaudited(ctx context.Context, tx *store.Tx, now time.Time, a Actor, app *Application, to, message string, set map[string]any) (audit func() error, err error) {
	if err := checkMove(app.State, to); err != nil {
		return nil, err
	}
	before := map[string]any{"state": app.State, "version": app.Version}
	cols := []string{"state = ?", "version = version + 1", "updated_at = ?"}
	args := []any{to, nanos(now)}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	after := map[string]any{"state": to}
	for _, k := range keys {
		cols = append(cols, k+" = ?")
		args = append(args, set[k])
		after[k] = set[k]
	}
	args = append(args, app.ID, app.Version)
	res, err := tx.Exec(ctx, `UPDATE desk_applications SET `+strings.Join(cols, ", ")+` WHERE id = ? AND version = ?`, args...)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, apperr.New(apperr.Conflict, "申请已被他人修改,请刷新后重试", "the application changed meanwhile; reload and retry")
	}
	if _, err := tx.Exec(ctx, `INSERT INTO desk_events (application_id, from_state, to_state, actor_id, actor_role, message, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		app.ID, app.State, to, a.ID, a.Role, message, nanos(now)); err != nil {
		return nil, err
	}
	if message != "" {
		after["message"] = message
	}
	app.State, app.StateName = to, StateName(to)
	app.Version++
	if err := s.notifyMove(ctx, tx, now, app, to, message); err != nil {
		return nil, err
	}
	id, uscc := app.ID, app.USCC
	return func() error {
		return s.record(ctx, tx, now, a, "application."+to, "application", id, uscc, before, after)
	}, nil
}

// CreateApplication starts a draft for item with the claim's facts. It
// needs an open round for the item (免申即享 offers do not).
func (s *Service) CreateApplication(ctx context.Context, a Actor, item string, facts map[string]json.RawMessage) (*Application, error) {
	if a.Role != RoleEnterprise || a.Enterprise == "" {
		return nil, forbidden()
	}
	it := s.bundle.Item(item)
	if it == nil {
		return nil, apperr.Newf(apperr.Invalid, "未知的支持事项 %q", "unknown item %q", item).WithField("item")
	}
	claim, err := s.checkFacts(item, facts)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var app *Application
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM desk_enterprises WHERE uscc = ?`, a.Enterprise).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return apperr.New(apperr.Conflict, "请先登记企业信息", "register the enterprise first")
			}
			return err
		}
		round, err := s.openRoundFor(ctx, tx, item, today(now))
		if err != nil {
			return err
		}
		app, err = s.insertApp(ctx, tx, now, a, a.Enterprise, it, round, "", facts, claim)
		return err
	})
	return app, err
}

func (s *Service) insertApp(ctx context.Context, tx *store.Tx, now time.Time, a Actor, code string, it *policy.Item, round, offer string, facts map[string]json.RawMessage, claim policy.Claim) (*Application, error) {
	terms, _ := s.bundle.Terms(it.ID, code, today(now), claim.Facts)
	id := newID("app")
	factsJSON, _ := json.Marshal(facts)
	deps, _ := json.Marshal(it.Departments)
	review := 0
	if it.Review {
		review = 1
	}
	var roundArg, offerArg any
	if round != "" {
		roundArg = round
	}
	if offer != "" {
		offerArg = offer
	}
	if _, err := tx.Exec(ctx, `INSERT INTO desk_applications (id, uscc, item, round_id, offer_id, state, facts, year, project, departments, review_required, created_by, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, code, it.ID, roundArg, offerArg, StateDraft, string(factsJSON), terms.Year, terms.Project, string(deps), review, a.ID, nanos(now), nanos(now)); err != nil {
		return nil, err
	}
	app, err := s.loadApp(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	// The audit row last (see move).
	if err := s.record(ctx, tx, now, a, "application.create", "application", id, code, nil, map[string]any{"item": it.ID, "facts": facts, "round": round, "offer": offer}); err != nil {
		return nil, err
	}
	return app, nil
}

// checkFacts validates a claim's facts against the item (types, allowed
// values) without requiring all of them: a draft may be incomplete.
func (s *Service) checkFacts(item string, facts map[string]json.RawMessage) (policy.Claim, error) {
	if len(facts) > 64 {
		return policy.Claim{}, apperr.New(apperr.Invalid, "事实过多", "too many facts").WithField("facts")
	}
	m := map[string]any{}
	for k, raw := range facts {
		var v any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return policy.Claim{}, apperr.Newf(apperr.Invalid, "事实 %s 不是有效的 JSON 值", "fact %s is not valid JSON", k).WithField("facts." + k)
		}
		m[k] = v
	}
	raw := policy.JSONRaw(map[string]any{"item": item, "facts": m})
	cl, ie := s.bundle.ParseClaim(raw, "facts")
	if ie != nil {
		return policy.Claim{}, &apperr.Error{Code: apperr.Invalid, Message: ie.Message, MessageEn: ie.MessageEn, Field: ie.Path, Err: ie}
	}
	return cl, nil
}

// UpdateFacts replaces the facts of a draft or of an application returned
// for 补正.
func (s *Service) UpdateFacts(ctx context.Context, a Actor, id string, facts map[string]json.RawMessage) (*Application, error) {
	now := s.now()
	var app *Application
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if app, err = s.loadApp(ctx, tx, id); err != nil {
			return err
		}
		if a.Role != RoleEnterprise || a.Enterprise != app.USCC {
			return notFound("申请")
		}
		if app.State != StateDraft && app.State != StateReturned {
			return apperr.Newf(apperr.Conflict, "申请状态为「%s」,不能修改", "an application in state %s cannot be edited", StateName(app.State))
		}
		claim, err := s.checkFacts(app.Item, facts)
		if err != nil {
			return err
		}
		terms, _ := s.bundle.Terms(app.Item, app.USCC, today(now), claim.Facts)
		factsJSON, _ := json.Marshal(facts)
		res, err := tx.Exec(ctx, `UPDATE desk_applications SET facts = ?, year = ?, project = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?`,
			string(factsJSON), terms.Year, terms.Project, nanos(now), id, app.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.Conflict, "申请已被他人修改,请刷新后重试", "the application changed meanwhile")
		}
		before := app.Facts
		if app, err = s.loadApp(ctx, tx, id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "application.update", "application", id, app.USCC, map[string]any{"facts": before}, map[string]any{"facts": facts})
	})
	return app, err
}

// Commitment is the text of the 信用承诺 an applicant signs.
const Commitment = "本单位承诺:所提交的申报材料真实、准确、完整,不存在弄虚作假、重复申报等行为;同一项目同时符合经开区其他政策的,按照“从优不重复”原则申请;如有违反,自愿退回支持资金并承担相应责任。"

// SignCommitment records that the enterprise signed the 信用承诺.
func (s *Service) SignCommitment(ctx context.Context, a Actor, id string) error {
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		app, err := s.loadApp(ctx, tx, id)
		if err != nil {
			return err
		}
		if a.Role != RoleEnterprise || a.Enterprise != app.USCC {
			return notFound("申请")
		}
		if app.State != StateDraft && app.State != StateReturned {
			return apperr.New(apperr.Conflict, "只能在提交前签署信用承诺", "sign before submitting")
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_applications SET commitment_at = ?, commitment_text = ?, updated_at = ? WHERE id = ?`, nanos(now), Commitment, nanos(now), id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "application.commitment", "application", id, app.USCC, nil, map[string]any{"text": Commitment})
	})
}

// Submit evaluates the application against the enterprise's facts and its
// real grant history from the ledger, freezes the result and its trace
// with it, and routes it to its departments. A repeated submit with the
// same idempotency key returns the first outcome.
func (s *Service) Submit(ctx context.Context, a Actor, id, idemKey string) (*Application, error) {
	now := s.now()
	if idemKey != "" {
		if app, ok, err := s.replay(ctx, a, idemKey, "submit:"+id); ok || err != nil {
			return app, err
		}
	}
	var app *Application
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if app, err = s.loadApp(ctx, tx, id); err != nil {
			return err
		}
		if a.Role != RoleEnterprise || a.Enterprise != app.USCC {
			return notFound("申请")
		}
		if err := checkMove(app.State, StateSubmitted); err != nil {
			return err
		}
		if app.OfferID == "" && app.State == StateDraft {
			if _, err := s.openRoundFor(ctx, tx, app.Item, today(now)); err != nil {
				return err
			}
		}
		if app.CommitmentAt == nil {
			return apperr.New(apperr.Invalid, "请先签署信用承诺", "sign the credit commitment first").WithField("commitment")
		}
		if app.OfferID == "" { // 免申即享: no materials to file
			if err := s.checkMaterials(ctx, tx, app); err != nil {
				return err
			}
		}
		res, view, err := s.evaluate(ctx, tx, app, now)
		if err != nil {
			return err
		}
		switch res.Status {
		case policy.Incomplete:
			return apperr.Newf(apperr.Invalid, "信息不全,还需提供:%s", "incomplete; still needed: %s", strings.Join(res.Missing, "、")).WithField("facts")
		case policy.Ineligible:
			return apperr.Newf(apperr.Conflict, "按政策规则不符合条件:%s", "ineligible under the rules: %s", reasonsZH(res.Reasons))
		}
		snap, _ := json.Marshal(view)
		set := map[string]any{"snapshot": string(snap), "ceiling": res.Formula, "allowed": res.Amount, "submitted_at": nanos(now), "note": ""}
		audit, err := s.moveUnaudited(ctx, tx, now, a, app, StateSubmitted, "", set)
		if err != nil {
			return err
		}
		if app, err = s.loadApp(ctx, tx, id); err != nil {
			return err
		}
		if idemKey != "" {
			if err := s.remember(ctx, tx, now, a, idemKey, "submit:"+id, app); err != nil {
				return err
			}
		}
		return audit()
	})
	if err != nil && idemKey != "" && store.IsUniqueViolation(err) {
		// A concurrent request with the same key won: return its outcome.
		if app, ok, rerr := s.replay(ctx, a, idemKey, "submit:"+id); ok || rerr != nil {
			return app, rerr
		}
	}
	return app, err
}

func reasonsZH(codes []string) string {
	zh := map[string]string{
		"outside_etown": "未在亦庄新城实际经营", "penalty_within_3y": "近3年有重大行政处罚或刑事犯罪记录", "dishonesty_listed": "列入严重违法失信主体名单",
		"data_center_no_energy_review": "数据中心项目未获节能审查意见或年度能源消费报告", "below_threshold": "未达到申报门槛",
		"event_outside_policy_window": "事项不在政策有效期内", "policy_not_in_force": "政策不在有效期内", "already_granted": "已获支持,不可重复申请",
		"cap_reached": "已达支持上限", "pool_exhausted": "年度资金已用完", "overlap_topped_up": "同一项目已获其他支持(从优不重复)",
	}
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		if t, ok := zh[c]; ok {
			out = append(out, t)
		} else if f, ok := strings.CutPrefix(c, "requirement_not_met:"); ok {
			out = append(out, "条件不满足:"+f)
		} else {
			out = append(out, c)
		}
	}
	return strings.Join(out, ";")
}

// evaluate runs the engine for an application today: the enterprise's
// facts in force, its ledger history (other grants than this one), and what
// is left in the item's pool (plus this application's own reservation).
func (s *Service) evaluate(ctx context.Context, tx *store.Tx, app *Application, now time.Time) (policy.Result, policy.ResultView, error) {
	day := today(now)
	facts, err := s.facts(ctx, tx, app.USCC, day)
	if err != nil {
		return policy.Result{}, policy.ResultView{}, err
	}
	claim, err := s.checkFacts(app.Item, app.Facts)
	if err != nil {
		return policy.Result{}, policy.ResultView{}, err
	}
	hist, own, err := s.history(ctx, tx, app.USCC, app.grant())
	if err != nil {
		return policy.Result{}, policy.ResultView{}, err
	}
	c := policy.Case{Date: day, USCC: app.USCC, Enterprise: s.enterpriseFacts(facts), History: hist, Claims: []policy.Claim{claim}}
	terms, _ := s.bundle.Terms(app.Item, app.USCC, day, claim.Facts)
	if terms.Pool != "" {
		left, err := s.led.PoolRemainingIn(ctx, tx, terms.Pool, terms.Year)
		var le *ledger.Error
		if errors.As(err, &le) && le.Code == ledger.CodeNotFound {
			left, err = 0, nil // the year's budget has not been funded
		}
		if err != nil {
			return policy.Result{}, policy.ResultView{}, err
		}
		c.Pools = []policy.PoolLeft{{Item: app.Item, Year: terms.Year, Remaining: left + own}}
	}
	res, err := s.bundle.Evaluate(&c)
	if err != nil {
		var ie *policy.InputError
		if errors.As(err, &ie) {
			return policy.Result{}, policy.ResultView{}, &apperr.Error{Code: apperr.Invalid, Message: ie.Message, MessageEn: ie.MessageEn, Err: ie}
		}
		return policy.Result{}, policy.ResultView{}, err
	}
	return res[0], s.bundle.View(&res[0], policy.Chinese), nil
}

// history is the enterprise's grants from the ledger as the engine reads
// them, leaving out grant exclude; own is what exclude has reserved and
// not yet paid or released. It reads through q, the caller's transaction
// when there is one (never a second connection while holding one).
func (s *Service) history(ctx context.Context, q store.Querier, code, exclude string) ([]policy.Grant, int64, error) {
	gs, err := s.led.HistoryIn(ctx, q, code)
	if err != nil {
		return nil, 0, err
	}
	var out []policy.Grant
	var own int64
	for _, g := range gs {
		amount := int64(0)
		switch g.State {
		case ledger.StateReserved:
			amount = g.Reserved
		case ledger.StatePaid:
			amount = g.Posted - g.Clawed
		}
		if g.GrantID == exclude {
			if g.State == ledger.StateReserved {
				own = g.Reserved
			}
			continue
		}
		if amount <= 0 {
			continue
		}
		out = append(out, policy.Grant{Policy: s.bundle.ID, Item: g.Item, Year: g.Year, Project: g.Project, Amount: amount})
	}
	return out, own, nil
}

// Withdraw lets the applicant withdraw before review has gone further.
func (s *Service) Withdraw(ctx context.Context, a Actor, id, message string) (*Application, error) {
	now := s.now()
	var app *Application
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if app, err = s.loadApp(ctx, tx, id); err != nil {
			return err
		}
		if a.Role != RoleEnterprise || a.Enterprise != app.USCC {
			return notFound("申请")
		}
		return s.move(ctx, tx, now, a, app, StateWithdrawn, limitText(message, 500), nil)
	})
	return app, err
}

// Get returns an application the actor may see.
func (s *Service) Get(ctx context.Context, a Actor, id string) (*Application, error) {
	var app *Application
	err := s.db.ReadTx(ctx, func(tx *store.Tx) error {
		var err error
		if app, err = s.loadApp(ctx, tx, id); err != nil {
			return err
		}
		onPanel := false
		if a.Role == RoleExpert {
			var status string
			if err := tx.QueryRow(ctx, `SELECT status FROM desk_panel WHERE application_id = ? AND expert_id = ?`, id, a.ID).Scan(&status); err == nil {
				// An expert sees the application only after declaring no conflict.
				onPanel = status == "cleared" || status == "scored"
				if status == "assigned" {
					app = redactForExpert(app)
					onPanel = true
				}
			}
		}
		if !canSee(a, app, onPanel) {
			return notFound("申请")
		}
		if app.USCC == "" {
			return nil // redacted for an expert before declaring
		}
		err = tx.QueryRow(ctx, `SELECT name FROM desk_enterprises WHERE uscc = ?`, app.USCC).Scan(&app.EnterpriseName)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return app, nil
}

func redactForExpert(app *Application) *Application {
	return &Application{ID: app.ID, Item: app.Item, ItemName: app.ItemName, Article: app.Article, State: app.State, StateName: app.StateName,
		Year: app.Year, Departments: app.Departments, ReviewRequired: app.ReviewRequired, Version: app.Version, CreatedAt: app.CreatedAt, UpdatedAt: app.UpdatedAt,
		Note: "请先声明无利益冲突 declare no conflict of interest first", Facts: map[string]json.RawMessage{}}
}

// Filter selects applications in List.
type Filter struct {
	State  string
	Item   string
	USCC   string
	Limit  int
	Offset int
	// WithFacts makes ListSummaries read the claim's facts too (never for
	// experts); List always reads them.
	WithFacts bool
}

// List returns the applications the actor may see, newest first, whole
// (facts and the frozen snapshot with its trace). Pages that show a list
// take ListSummaries, which reads only the columns a list shows.
func (s *Service) List(ctx context.Context, a Actor, f Filter) ([]*Application, error) {
	where, args, err := listScope(s.db.Dialect(), a, f)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + appColumns + ` FROM desk_applications a` + where + listOrder(f)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Application
	for rows.Next() {
		app, err := s.scanApp(rows)
		if err != nil {
			return nil, err
		}
		if a.Role == RoleExpert {
			app.Facts, app.Snapshot = map[string]json.RawMessage{}, nil
		}
		out = append(out, app)
	}
	return out, rows.Err()
}

// Event is one step of an application's timeline.
type Event struct {
	From    string    `json:"from"`
	To      string    `json:"to"`
	ToName  string    `json:"to_name"`
	Actor   string    `json:"actor_role"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

// Timeline returns the status history of an application.
func (s *Service) Timeline(ctx context.Context, a Actor, id string) ([]Event, error) {
	if _, err := s.Get(ctx, a, id); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT from_state, to_state, actor_role, message, at FROM desk_events WHERE application_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.From, &e.To, &e.Actor, &e.Message, &at); err != nil {
			return nil, err
		}
		e.At, e.ToName = fromNanos(at), StateName(e.To)
		out = append(out, e)
	}
	return out, rows.Err()
}

func limitText(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n])
	}
	return s
}

// replay returns the stored outcome of an idempotent request.
func (s *Service) replay(ctx context.Context, a Actor, key, request string) (*Application, bool, error) {
	var actor, hash, resp string
	err := s.db.QueryRow(ctx, `SELECT actor_id, hash, response FROM desk_idempotency WHERE key = ?`, key).Scan(&actor, &hash, &resp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if actor != a.ID || hash != requestHash(request) {
		return nil, true, apperr.New(apperr.Conflict, "幂等键已用于另一请求", "the idempotency key was used for another request")
	}
	var app Application
	if err := json.Unmarshal([]byte(resp), &app); err != nil {
		return nil, true, err
	}
	return &app, true, nil
}

func (s *Service) remember(ctx context.Context, tx *store.Tx, now time.Time, a Actor, key, request string, app *Application) error {
	if len(key) > 200 {
		return apperr.New(apperr.Invalid, "幂等键过长", "idempotency key too long").WithField("Idempotency-Key")
	}
	resp, _ := json.Marshal(app)
	_, err := tx.Exec(ctx, `INSERT INTO desk_idempotency (key, actor_id, hash, response, created_at) VALUES (?, ?, ?, ?, ?)`, key, a.ID, requestHash(request), string(resp), nanos(now))
	return err
}

func requestHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
