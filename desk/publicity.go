package desk

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// Publicity is a 公示 batch: proposed awards open to objections for a
// number of working days.
type Publicity struct {
	ID       string          `json:"id"`
	Title    string          `json:"title"`
	Starts   string          `json:"starts"`
	Ends     string          `json:"ends"`
	Workdays int             `json:"workdays"`
	State    string          `json:"state"`
	Entries  []PublicityItem `json:"entries,omitempty"`
}

// PublicityItem is one line of a 公示 list, as the public sees it.
type PublicityItem struct {
	ApplicationID string       `json:"application_id"`
	Enterprise    string       `json:"enterprise"`
	USCC          string       `json:"uscc"`
	Item          string       `json:"item"`
	ItemName      string       `json:"item_name"`
	Article       int          `json:"article"`
	Amount        money.Amount `json:"amount"`
	State         string       `json:"state"`
}

// Publish puts proposed applications on 公示 from today for the configured
// number of working days.
func (s *Service) Publish(ctx context.Context, a Actor, title string, ids []string) (*Publicity, error) {
	if a.Role != RoleAdmin && a.Role != RoleReviewer {
		return nil, forbidden()
	}
	title = strings.TrimSpace(title)
	if title == "" || utf8.RuneCountInString(title) > 200 {
		return nil, apperr.New(apperr.Invalid, "请填写公示标题", "title is required").WithField("title")
	}
	if len(ids) == 0 || len(ids) > 5000 {
		return nil, apperr.New(apperr.Invalid, "请选择要公示的申请", "choose the applications").WithField("ids")
	}
	now := s.now()
	start := today(now).Time()
	ends := s.opt.Calendar.AddWorkdays(start, s.opt.PublicityWorkdays)
	p := &Publicity{ID: newID("pub"), Title: title, Starts: policy.DateOf(start).String(), Ends: policy.DateOf(ends).String(), Workdays: s.opt.PublicityWorkdays, State: "open"}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO desk_publicity (id, title, starts, ends, workdays, state, created_by, created_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)`,
			p.ID, p.Title, p.Starts, p.Ends, p.Workdays, a.ID, nanos(now)); err != nil {
			return err
		}
		for _, id := range ids {
			app, err := s.loadApp(ctx, tx, id)
			if err != nil {
				return err
			}
			if !canReview(a, app) {
				return forbidden()
			}
			if _, err := tx.Exec(ctx, `INSERT INTO desk_publicity_items (publicity_id, application_id) VALUES (?, ?)`, p.ID, id); err != nil {
				return err
			}
			if err := s.move(ctx, tx, now, a, app, StatePublicized, "公示:"+p.Title+"("+p.Starts+" 至 "+p.Ends+")", nil); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, now, a, "publicity.open", "publicity", p.ID, "", nil, p)
	})
	if err != nil {
		return nil, err
	}
	return s.GetPublicity(ctx, p.ID)
}

// GetPublicity returns a 公示 list; it is public.
func (s *Service) GetPublicity(ctx context.Context, id string) (*Publicity, error) {
	p := &Publicity{}
	err := s.db.QueryRow(ctx, `SELECT id, title, starts, ends, workdays, state FROM desk_publicity WHERE id = ?`, id).Scan(&p.ID, &p.Title, &p.Starts, &p.Ends, &p.Workdays, &p.State)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("公示")
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT a.id, e.name, a.uscc, a.item, a.proposed, a.state FROM desk_publicity_items i
		JOIN desk_applications a ON a.id = i.application_id JOIN desk_enterprises e ON e.uscc = a.uscc
		WHERE i.publicity_id = ? ORDER BY a.item, e.name, a.id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var it PublicityItem
		var amount int64
		if err := rows.Scan(&it.ApplicationID, &it.Enterprise, &it.USCC, &it.Item, &amount, &it.State); err != nil {
			return nil, err
		}
		it.Amount = money.Amount(amount)
		if item := s.bundle.Item(it.Item); item != nil {
			it.ItemName, it.Article = item.Name, item.Article
		}
		p.Entries = append(p.Entries, it)
	}
	return p, rows.Err()
}

// Publicities lists 公示 batches, newest first; public.
func (s *Service) Publicities(ctx context.Context) ([]Publicity, error) {
	rows, err := s.db.Query(ctx, `SELECT id, title, starts, ends, workdays, state FROM desk_publicity ORDER BY starts DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Publicity
	for rows.Next() {
		var p Publicity
		if err := rows.Scan(&p.ID, &p.Title, &p.Starts, &p.Ends, &p.Workdays, &p.State); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Objection is a written, named (实名) objection to an award on 公示.
type Objection struct {
	ID            string    `json:"id"`
	ApplicationID string    `json:"application_id"`
	PublicityID   string    `json:"publicity_id"`
	Name          string    `json:"name"`
	Contact       string    `json:"contact,omitempty"`
	Text          string    `json:"text"`
	State         string    `json:"state"`
	Resolution    string    `json:"resolution,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// Object lodges an objection during the 公示 window; anyone may, with
// their real name and a contact. It holds the application until resolved.
func (s *Service) Object(ctx context.Context, a Actor, appID, name, contact, text string) (*Objection, error) {
	name, contact, text = strings.TrimSpace(name), strings.TrimSpace(contact), strings.TrimSpace(text)
	switch {
	case name == "" || utf8.RuneCountInString(name) > 50:
		return nil, apperr.New(apperr.Invalid, "异议须实名(姓名或单位名称)", "objections must be named").WithField("name")
	case contact == "" || utf8.RuneCountInString(contact) > 100:
		return nil, apperr.New(apperr.Invalid, "请留下联系方式", "a contact is required").WithField("contact")
	case utf8.RuneCountInString(text) < 10 || utf8.RuneCountInString(text) > 5000:
		return nil, apperr.New(apperr.Invalid, "异议内容应为10–5000字", "the objection must be 10–5000 characters").WithField("text")
	}
	now := s.now()
	o := &Objection{ID: newID("obj"), ApplicationID: appID, Name: name, Text: text, State: "open", CreatedAt: now}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		app, err := s.loadApp(ctx, tx, appID)
		if err != nil {
			return err
		}
		var ends string
		err = tx.QueryRow(ctx, `SELECT p.id, p.ends FROM desk_publicity p JOIN desk_publicity_items i ON i.publicity_id = p.id
			WHERE i.application_id = ? AND p.state = 'open' ORDER BY p.starts DESC LIMIT 1`, appID).Scan(&o.PublicityID, &ends)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.Conflict, "该申请不在公示期内", "the application is not on 公示")
		}
		if err != nil {
			return err
		}
		if today(now).String() > ends {
			return apperr.Newf(apperr.Conflict, "公示期已于 %s 结束,不再受理异议", "the 公示 window ended on %s", ends)
		}
		if app.State != StatePublicized && app.State != StateObjected {
			return apperr.New(apperr.Conflict, "该申请不在公示期内", "the application is not on 公示")
		}
		sealed, err := s.cipher.seal(contact, "objection:"+o.ID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO desk_objections (id, application_id, publicity_id, name, contact, text, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)`,
			o.ID, appID, o.PublicityID, name, sealed, text, nanos(now)); err != nil {
			return err
		}
		if err := s.record(ctx, tx, now, a, "objection.lodge", "objection", o.ID, app.USCC, nil, map[string]string{"application": appID, "name": name, "text": text}); err != nil {
			return err
		}
		if app.State == StatePublicized {
			return s.move(ctx, tx, now, a, app, StateObjected, "收到公示异议,暂停办理", nil)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Objections lists the objections to an application (reviewers and admins).
func (s *Service) Objections(ctx context.Context, a Actor, appID string) ([]Objection, error) {
	app, err := s.Get(ctx, a, appID)
	if err != nil {
		return nil, err
	}
	if !canReview(a, app) {
		return nil, forbidden()
	}
	rows, err := s.db.Query(ctx, `SELECT id, application_id, publicity_id, name, contact, text, state, resolution, created_at FROM desk_objections WHERE application_id = ? ORDER BY created_at, id`, appID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Objection
	for rows.Next() {
		var o Objection
		var sealed string
		var at int64
		if err := rows.Scan(&o.ID, &o.ApplicationID, &o.PublicityID, &o.Name, &sealed, &o.Text, &o.State, &o.Resolution, &at); err != nil {
			return nil, err
		}
		o.CreatedAt = fromNanos(at)
		if c, err := s.cipher.open(sealed, "objection:"+o.ID); err == nil {
			o.Contact = c
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// ResolveObjection decides an objection. Upheld: the award is refused and
// its reservation released. Dismissed: once no objection is open, the
// application returns to 公示 (and is approved when the window has ended).
func (s *Service) ResolveObjection(ctx context.Context, a Actor, objectionID string, upheld bool, resolution string) (*Application, error) {
	resolution = limitText(resolution, 2000)
	if resolution == "" {
		return nil, apperr.New(apperr.Invalid, "请写明处理意见", "give the resolution").WithField("resolution")
	}
	var appID string
	if err := s.db.QueryRow(ctx, `SELECT application_id FROM desk_objections WHERE id = ?`, objectionID).Scan(&appID); err != nil {
		return nil, notFound("异议")
	}
	app, err := s.review(ctx, a, appID, func(tx *store.Tx, now time.Time, app *Application) error {
		var state string
		if err := tx.QueryRow(ctx, `SELECT state FROM desk_objections WHERE id = ?`, objectionID).Scan(&state); err != nil {
			return err
		}
		if state != "open" {
			return apperr.New(apperr.Conflict, "该异议已处理", "already resolved")
		}
		to := "dismissed"
		if upheld {
			to = "upheld"
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_objections SET state = ?, resolution = ?, resolved_by = ?, resolved_at = ? WHERE id = ?`, to, resolution, a.ID, nanos(now), objectionID); err != nil {
			return err
		}
		if err := s.record(ctx, tx, now, a, "objection."+to, "objection", objectionID, app.USCC, map[string]string{"state": "open"}, map[string]string{"state": to, "resolution": resolution}); err != nil {
			return err
		}
		if upheld {
			return s.move(ctx, tx, now, a, app, StateObjectionUpheld, "异议成立:"+resolution, map[string]any{"note": resolution})
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM desk_objections WHERE application_id = ? AND state = 'open'`, app.ID).Scan(&open); err != nil {
			return err
		}
		if open == 0 && app.State == StateObjected {
			return s.move(ctx, tx, now, a, app, StatePublicized, "异议不成立,恢复公示:"+resolution, nil)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if upheld {
		return app, s.release(ctx, app.grant())
	}
	return app, nil
}

// CloseWindows approves the undisputed awards of every 公示 whose window
// has ended; the server's scheduler calls it. Each application is evaluated
// again first: facts may have changed since submission (e.g. newly on the
// dishonesty list), and then it is refused with the reason and its
// reservation released.
func (s *Service) CloseWindows(ctx context.Context) (approved, refused int, err error) {
	now := s.now()
	t := today(now).String()
	rows, err := s.db.Query(ctx, `SELECT i.application_id, p.id FROM desk_publicity p JOIN desk_publicity_items i ON i.publicity_id = p.id
		JOIN desk_applications a ON a.id = i.application_id WHERE p.state = 'open' AND p.ends < ? AND a.state = ?`, t, StatePublicized)
	if err != nil {
		return 0, 0, err
	}
	var ids []string
	for rows.Next() {
		var id, pub string
		if err := rows.Scan(&id, &pub); err != nil {
			rows.Close()
			return 0, 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		ok, err := s.approve(ctx, id)
		if err != nil {
			return approved, refused, err
		}
		if ok {
			approved++
		} else {
			refused++
		}
	}
	// A window is closed when none of its applications is still on hold.
	_, err = s.db.Exec(ctx, `UPDATE desk_publicity SET state = 'closed' WHERE state = 'open' AND ends < ? AND NOT EXISTS (
		SELECT 1 FROM desk_publicity_items i JOIN desk_applications a ON a.id = i.application_id
		WHERE i.publicity_id = desk_publicity.id AND a.state IN (?, ?))`, t, StatePublicized, StateObjected)
	return approved, refused, err
}

func (s *Service) approve(ctx context.Context, id string) (bool, error) {
	now := s.now()
	ok, refused := false, false
	grant := id
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		app, err := s.loadApp(ctx, tx, id)
		if err != nil {
			return err
		}
		grant = app.grant()
		if app.State != StatePublicized {
			return nil
		}
		res, _, err := s.evaluate(ctx, tx, app, now)
		if err != nil {
			return err
		}
		if res.Status == policy.Ineligible || res.Status == policy.Incomplete {
			reason := "批准前复核不符合条件:" + reasonsZH(res.Reasons)
			refused = true
			return s.move(ctx, tx, now, System, app, StateRejected, reason, map[string]any{"note": reason})
		}
		ok = true
		return s.move(ctx, tx, now, System, app, StateApproved, "公示期满无异议,予以批准", map[string]any{"approved": int64(app.Proposed)})
	})
	if err == nil && refused {
		err = s.release(ctx, grant)
	}
	return ok, err
}
