package desk

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"

	"policydesk/apperr"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// review runs a reviewer's action on an application in one transaction.
func (s *Service) review(ctx context.Context, a Actor, id string, fn func(tx *store.Tx, now time.Time, app *Application) error) (*Application, error) {
	now := s.now()
	var app *Application
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if app, err = s.loadApp(ctx, tx, id); err != nil {
			return err
		}
		if !canReview(a, app) {
			if canSee(a, app, false) {
				return forbidden()
			}
			return notFound("申请")
		}
		return fn(tx, now, app)
	})
	if err != nil {
		return nil, err
	}
	// Read back after the commit, not inside the transaction: its last
	// statement is the audit row, whose lock every audited write waits for.
	// The action has happened: should the read fail, the answer is the
	// application as loaded in the transaction, with the state and version
	// its move set (fields the move wrote in SQL only are not in it).
	if fresh, err := s.loadApp(ctx, s.db, id); err == nil {
		return fresh, nil
	}
	return app, nil
}

// Accept passes 形式审查.
func (s *Service) Accept(ctx context.Context, a Actor, id, message string) (*Application, error) {
	return s.review(ctx, a, id, func(tx *store.Tx, now time.Time, app *Application) error {
		return s.move(ctx, tx, now, a, app, StateAccepted, limitText(message, 2000), map[string]any{"note": ""})
	})
}

// Return sends an application back for 补正 with the reviewer's message.
func (s *Service) Return(ctx context.Context, a Actor, id, message string) (*Application, error) {
	message = limitText(message, 2000)
	return s.review(ctx, a, id, func(tx *store.Tx, now time.Time, app *Application) error {
		if message == "" {
			return apperr.New(apperr.Invalid, "请写明需要补正的内容", "say what must be corrected").WithField("message")
		}
		return s.move(ctx, tx, now, a, app, StateReturned, message, map[string]any{"note": message})
	})
}

// Reject refuses an application; a reservation it holds is released.
func (s *Service) Reject(ctx context.Context, a Actor, id, message string) (*Application, error) {
	message = limitText(message, 2000)
	app, err := s.review(ctx, a, id, func(tx *store.Tx, now time.Time, app *Application) error {
		if message == "" {
			return apperr.New(apperr.Invalid, "请写明不予支持的理由", "give the reason").WithField("message")
		}
		return s.move(ctx, tx, now, a, app, StateRejected, message, map[string]any{"note": message})
	})
	if err != nil {
		return nil, err
	}
	return app, s.release(ctx, app.grant())
}

// release voids a grant's reservation; a grant that was never reserved or
// is already resolved is fine.
func (s *Service) release(ctx context.Context, grantID string) error {
	err := s.led.Release(ctx, grantID)
	var le *ledger.Error
	if err == nil || errors.As(err, &le) && (le.Code == ledger.CodeNotFound || le.Code == ledger.CodeAlreadyResolved) {
		return nil
	}
	return err
}

// Opinion records the department's opinion on an accepted application. An
// item without expert review is then proposed at the engine's amount; an
// item with review goes to a panel (AssignPanel).
func (s *Service) Opinion(ctx context.Context, a Actor, id, message string) (*Application, error) {
	app, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if !canReview(a, app) {
		return nil, forbidden()
	}
	if app.State != StateAccepted {
		return nil, checkMove(app.State, StateProposed)
	}
	if app.ReviewRequired {
		return nil, apperr.New(apperr.Conflict, "该事项须经专家评审,请先组建评审组", "this item needs expert review: assign a panel")
	}
	return s.propose(ctx, a, id, int64(app.Allowed), limitText(message, 2000))
}

// propose reserves amount in the ledger (pool and caps in one linked set)
// and moves the application to proposed, or to waitlisted when the pool or
// a cap has no room. The reservation is made first and is idempotent by
// application id, so a crash between the two steps is repaired by retrying.
func (s *Service) propose(ctx context.Context, a Actor, id string, amount int64, message string) (*Application, error) {
	now := s.now()
	var app *Application
	var terms policy.GrantTerms
	err := s.db.ReadTx(ctx, func(tx *store.Tx) error {
		var err error
		if app, err = s.loadApp(ctx, tx, id); err != nil {
			return err
		}
		if err := checkMove(app.State, StateProposed); err != nil {
			return err
		}
		claim, err := s.checkFacts(app.Item, app.Facts)
		if err != nil {
			return err
		}
		terms, err = s.bundle.Terms(app.Item, app.USCC, today(now), claim.Facts)
		return err
	})
	if err != nil {
		return nil, err
	}
	if amount > int64(app.Allowed) {
		return nil, apperr.Newf(apperr.Invalid, "拟支持金额不得超过规则上限 %s 元", "the amount may not exceed the rules' limit %s yuan", money.FormatGrouped(int64(app.Allowed))).WithField("amount")
	}
	if amount <= 0 {
		return s.waitlist(ctx, a, id, "按规则可支持金额为0,不能拟支持", now)
	}
	caps := make([]ledger.Cap, 0, len(terms.Caps))
	for _, c := range terms.Caps {
		caps = append(caps, ledger.Cap{Key: c.Key, Limit: c.Limit})
	}
	grantID := app.grant()
	g := ledger.Grant{ID: grantID, Enterprise: app.USCC, Item: app.Item, Year: terms.Year, Project: terms.Project, Pool: terms.Pool, Amount: amount, Caps: caps}
	res, rerr := s.led.Reserve(ctx, g)
	if rerr == nil && res.Replayed {
		// The same grant was reserved before. If that reservation has since
		// been released (start-up reconciliation gave back an orphan, or an
		// earlier proposal was withdrawn) the replay holds nothing: the
		// application gets a fresh grant id and reserves again.
		live, err := s.grantReserved(ctx, app.USCC, grantID)
		if err != nil {
			return nil, err
		}
		if !live {
			if g.ID, err = s.regrant(ctx, a, app.ID); err != nil {
				return nil, err
			}
			grantID = g.ID
			_, rerr = s.led.Reserve(ctx, g)
		}
	}
	var le *ledger.Error
	if errors.As(rerr, &le) && (le.Code == ledger.CodeInsufficientFunds || le.Code == ledger.CodeExceedsCap) {
		reason := "年度资金池余额不足"
		if le.Code == ledger.CodeExceedsCap {
			reason = "超出支持上限(企业/项目/年度)"
		}
		return s.waitlist(ctx, a, id, reason+":"+le.Message, now)
	}
	if rerr != nil {
		return nil, rerr
	}
	out, err := s.review(ctx, a, id, func(tx *store.Tx, now time.Time, app *Application) error {
		if app.State == StateProposed && app.GrantID == grantID && int64(app.Proposed) == amount {
			return nil // a retry after the first attempt landed
		}
		return s.move(ctx, tx, now, a, app, StateProposed, message, map[string]any{"proposed": amount, "note": "", "grant_id": grantID})
	})
	if err != nil {
		// The application moved meanwhile (withdrawn, rejected…): give the
		// money back unless it now holds the reservation legitimately.
		if cur, gerr := s.Get(ctx, a, id); gerr == nil && !holdsReservation(cur.State) {
			_ = s.release(ctx, grantID)
		}
		return nil, err
	}
	return out, nil
}

// grantReserved reports whether the grant holds a reservation now (not
// released, expired or paid).
func (s *Service) grantReserved(ctx context.Context, code, grantID string) (bool, error) {
	gs, err := s.led.History(ctx, code)
	if err != nil {
		return false, err
	}
	for _, g := range gs {
		if g.GrantID == grantID {
			return g.State == ledger.StateReserved, nil
		}
	}
	return false, nil
}

func (s *Service) waitlist(ctx context.Context, a Actor, id, reason string, now time.Time) (*Application, error) {
	return s.review(ctx, a, id, func(tx *store.Tx, now time.Time, app *Application) error {
		return s.move(ctx, tx, now, a, app, StateWaitlisted, reason, map[string]any{"note": reason})
	})
}

// Repropose tries again to reserve a waitlisted application, e.g. after the
// pool was topped up or another grant was released.
func (s *Service) Repropose(ctx context.Context, a Actor, id string) (*Application, error) {
	app, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if !canReview(a, app) {
		return nil, forbidden()
	}
	if app.State != StateWaitlisted {
		return nil, checkMove(app.State, StateWaitlisted)
	}
	amount := int64(app.Proposed)
	if amount == 0 {
		amount = int64(app.Allowed)
	}
	return s.propose(ctx, a, id, amount, "候补转拟支持")
}

// PanelMember is one expert on an application's panel.
type PanelMember struct {
	ExpertID string          `json:"expert_id"`
	Chair    bool            `json:"chair"`
	Status   string          `json:"status"`
	Scores   json.RawMessage `json:"scores,omitempty"`
	Amount   money.Amount    `json:"amount"`
	Comment  string          `json:"comment,omitempty"`
}

// AssignPanel forms the expert panel of an accepted application of an item
// that needs review: the experts named, or n drawn from the expert pool.
func (s *Service) AssignPanel(ctx context.Context, a Actor, id string, experts []string, n int, chair string) (*Application, error) {
	return s.review(ctx, a, id, func(tx *store.Tx, now time.Time, app *Application) error {
		if len(experts) == 0 {
			if n <= 0 || n > 15 {
				return apperr.New(apperr.Invalid, "请指定专家或抽取人数(1–15)", "name experts or a number to draw (1–15)").WithField("experts")
			}
			drawn, err := s.draw(ctx, id, n, nil)
			if err != nil {
				return err
			}
			experts = drawn
		}
		seen := map[string]bool{}
		for _, e := range experts {
			if e == "" || seen[e] {
				return apperr.New(apperr.Invalid, "专家名单有重复或空项", "duplicate or empty expert").WithField("experts")
			}
			if e == a.ID {
				return apperr.New(apperr.Forbidden, "不能指派自己评审", "you cannot assign yourself")
			}
			seen[e] = true
		}
		if chair == "" {
			chair = experts[0]
		}
		if !seen[chair] {
			return apperr.New(apperr.Invalid, "组长须在专家名单中", "the chair must be on the panel").WithField("chair")
		}
		if !app.ReviewRequired {
			return apperr.New(apperr.Conflict, "该事项无需专家评审", "this item needs no expert review")
		}
		if err := checkMove(app.State, StateExpertReview); err != nil {
			return err
		}
		for _, e := range experts {
			c := 0
			if e == chair {
				c = 1
			}
			if _, err := tx.Exec(ctx, `INSERT INTO desk_panel (application_id, expert_id, chair, status, assigned_by, assigned_at, updated_at) VALUES (?, ?, ?, 'assigned', ?, ?, ?)`,
				id, e, c, a.ID, nanos(now), nanos(now)); err != nil {
				return err
			}
			if err := s.inbox(ctx, tx, now, "user:"+e, "panel", "新的评审任务", "请先声明利益冲突,再查看申请并评分:"+app.ItemName, "/applications/"+id); err != nil {
				return err
			}
		}
		return s.move(ctx, tx, now, a, app, StateExpertReview, "专家组:"+joinIDs(experts), nil)
	})
}

func joinIDs(ids []string) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

// draw picks n experts from the pool, excluding some, in an order fixed by
// the application id (so a draw can be re-checked).
func (s *Service) draw(ctx context.Context, id string, n int, exclude []string) ([]string, error) {
	if s.opt.Experts == nil {
		return nil, apperr.New(apperr.Conflict, "没有可抽取的专家库", "no expert pool")
	}
	pool, err := s.opt.Experts(ctx)
	if err != nil {
		return nil, err
	}
	var cand []string
	for _, e := range pool {
		if !slices.Contains(exclude, e) {
			cand = append(cand, e)
		}
	}
	sort.Slice(cand, func(i, j int) bool { return drawKey(id, cand[i]) < drawKey(id, cand[j]) })
	if len(cand) < n {
		return nil, apperr.Newf(apperr.Conflict, "专家库只剩 %d 人,不足 %d 人", "only %d experts available, %d needed", len(cand), n)
	}
	return cand[:n], nil
}

func drawKey(id, expert string) uint64 {
	h := sha256.Sum256([]byte(id + "\x00" + expert))
	return binary.BigEndian.Uint64(h[:8])
}

// Declare is an expert's conflict-of-interest declaration. A conflict
// removes the expert and draws a replacement from the pool when there is one.
func (s *Service) Declare(ctx context.Context, a Actor, id string, conflict bool, note string) error {
	if a.Role != RoleExpert {
		return forbidden()
	}
	now := s.now()
	var replacement []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		app, err := s.loadApp(ctx, tx, id)
		if err != nil {
			return err
		}
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM desk_panel WHERE application_id = ? AND expert_id = ?`, id, a.ID).Scan(&status); err != nil {
			return notFound("评审任务")
		}
		if status != "assigned" {
			return apperr.New(apperr.Conflict, "已经声明过利益冲突", "already declared")
		}
		if app.State != StateExpertReview {
			return apperr.New(apperr.Conflict, "该申请不在专家评审阶段", "the application is not in expert review")
		}
		to := "cleared"
		if conflict {
			to = "recused"
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_panel SET status = ?, comment = ?, updated_at = ? WHERE application_id = ? AND expert_id = ?`, to, limitText(note, 500), nanos(now), id, a.ID); err != nil {
			return err
		}
		if err := s.record(ctx, tx, now, a, "panel.declare", "application", id, app.USCC, map[string]string{"status": status}, map[string]any{"status": to, "conflict": conflict}); err != nil {
			return err
		}
		if !conflict {
			return nil
		}
		var onPanel []string
		rows, err := tx.Query(ctx, `SELECT expert_id FROM desk_panel WHERE application_id = ?`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				rows.Close()
				return err
			}
			onPanel = append(onPanel, e)
		}
		rows.Close()
		replacement, err = s.draw(ctx, id, 1, onPanel)
		if err != nil {
			replacement = nil // no one left: the panel goes on with fewer experts
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO desk_panel (application_id, expert_id, chair, status, assigned_by, assigned_at, updated_at) VALUES (?, ?, 0, 'assigned', 'system', ?, ?)`,
			id, replacement[0], nanos(now), nanos(now)); err != nil {
			return err
		}
		if err := s.inbox(ctx, tx, now, "user:"+replacement[0], "panel", "新的评审任务(替补)", "请先声明利益冲突,再查看申请并评分:"+app.ItemName, "/applications/"+id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, System, "panel.replace", "application", id, app.USCC, map[string]string{"recused": a.ID}, map[string]string{"drawn": replacement[0]})
	})
	return err
}

// Score records an expert's rubric scores and proposed amount, which may
// not exceed what the rules allow.
func (s *Service) Score(ctx context.Context, a Actor, id string, scores map[string]int, amount int64, comment string) error {
	if a.Role != RoleExpert {
		return forbidden()
	}
	if len(scores) == 0 || len(scores) > 20 {
		return apperr.New(apperr.Invalid, "请按评分细则打分", "score the rubric").WithField("scores")
	}
	for k, v := range scores {
		if v < 0 || v > 100 || k == "" {
			return apperr.New(apperr.Invalid, "每项评分应在0–100之间", "each score is 0–100").WithField("scores")
		}
	}
	if amount < 0 {
		return apperr.New(apperr.Invalid, "金额不能为负", "amount must not be negative").WithField("amount")
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		app, err := s.loadApp(ctx, tx, id)
		if err != nil {
			return err
		}
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM desk_panel WHERE application_id = ? AND expert_id = ?`, id, a.ID).Scan(&status); err != nil {
			return notFound("评审任务")
		}
		if status != "cleared" {
			return apperr.New(apperr.Conflict, "请先声明无利益冲突(或已评分)", "declare no conflict first (or already scored)")
		}
		if app.State != StateExpertReview {
			return apperr.New(apperr.Conflict, "该申请不在专家评审阶段", "the application is not in expert review")
		}
		if amount > int64(app.Allowed) {
			return apperr.Newf(apperr.Invalid, "建议金额不得超过规则上限 %s 元", "the amount may not exceed the rules' limit %s yuan", money.FormatGrouped(int64(app.Allowed))).WithField("amount")
		}
		sc, _ := json.Marshal(scores)
		if _, err := tx.Exec(ctx, `UPDATE desk_panel SET status = 'scored', scores = ?, amount = ?, comment = ?, updated_at = ? WHERE application_id = ? AND expert_id = ?`,
			string(sc), amount, limitText(comment, 2000), nanos(now), id, a.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "panel.score", "application", id, app.USCC, nil, map[string]any{"scores": scores, "amount": money.Format(amount)})
	})
}

// Panel lists an application's panel.
func (s *Service) Panel(ctx context.Context, a Actor, id string) ([]PanelMember, error) {
	app, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if !canReview(a, app) && a.Role != RoleAdmin {
		return nil, forbidden()
	}
	rows, err := s.db.Query(ctx, `SELECT expert_id, chair, status, scores, amount, comment FROM desk_panel WHERE application_id = ? ORDER BY assigned_at, expert_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PanelMember
	for rows.Next() {
		var m PanelMember
		var chair int
		var scores string
		var amount int64
		if err := rows.Scan(&m.ExpertID, &chair, &m.Status, &scores, &amount, &m.Comment); err != nil {
			return nil, err
		}
		m.Chair, m.Amount = chair == 1, money.Amount(amount)
		if scores != "" {
			m.Scores = json.RawMessage(scores)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Consolidate fixes the panel's amount — the median of the scored amounts
// (rounded down to the fen), or the chair's — and proposes it. It never
// exceeds what the rules allow.
func (s *Service) Consolidate(ctx context.Context, a Actor, id, message string) (*Application, error) {
	panel, err := s.Panel(ctx, a, id)
	if err != nil {
		return nil, err
	}
	var amounts []int64
	var chairAmount int64 = -1
	for _, m := range panel {
		switch m.Status {
		case "recused":
			continue
		case "scored":
			amounts = append(amounts, int64(m.Amount))
			if m.Chair {
				chairAmount = int64(m.Amount)
			}
		default:
			return nil, apperr.New(apperr.Conflict, "还有专家未完成声明或评分", "some experts have not declared or scored")
		}
		if m.ExpertID == a.ID {
			return nil, apperr.New(apperr.Forbidden, "评审专家不能汇总自己参与的评审", "a panel member cannot consolidate")
		}
	}
	if len(amounts) == 0 {
		return nil, apperr.New(apperr.Conflict, "没有有效评分", "no scores")
	}
	amount := Median(amounts)
	if s.opt.ConsolidateBy == "chair" && chairAmount >= 0 {
		amount = chairAmount
	}
	return s.propose(ctx, a, id, amount, limitText(message, 2000))
}

// Median returns the median, the lower-rounded mean of the middle two for
// an even count.
func Median(xs []int64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}
