package desk

import (
	"context"
	"encoding/json"
	"time"

	"policydesk/money"
	"policydesk/store"
)

// Message is one item of the in-site inbox.
type Message struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	Subject   string     `json:"subject"`
	Body      string     `json:"body"`
	Link      string     `json:"link,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"read_at,omitempty"`
}

func (s *Service) inbox(ctx context.Context, tx *store.Tx, now time.Time, recipient, kind, subject, body, link string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO desk_inbox (recipient, kind, subject, body, link, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		recipient, kind, subject, body, link, nanos(now)); err != nil {
		return err
	}
	if s.opt.WebhookURL == "" {
		return nil
	}
	payload, _ := json.Marshal(map[string]any{"recipient": recipient, "kind": kind, "subject": subject, "body": body, "link": link, "at": now})
	_, err := tx.Exec(ctx, `INSERT INTO desk_outbox (payload, attempts, next_at) VALUES (?, 0, ?)`, string(payload), nanos(now))
	return err
}

// notifyMove tells the people concerned about a state change.
func (s *Service) notifyMove(ctx context.Context, tx *store.Tx, now time.Time, app *Application, to, message string) error {
	link := "/applications/" + app.ID
	name := app.ItemName
	switch to {
	case StateSubmitted:
		for _, d := range app.Departments {
			if err := s.inbox(ctx, tx, now, "dept:"+d, "queue", "新的申请待形式审查", name+" "+app.USCC, link); err != nil {
				return err
			}
		}
		return nil
	case StateReturned:
		return s.inbox(ctx, tx, now, "enterprise:"+app.USCC, "correction", "申请被退回补正", name+":"+message, link)
	case StateRejected, StateObjectionUpheld:
		return s.inbox(ctx, tx, now, "enterprise:"+app.USCC, "decision", "申请未获支持", name+":"+message, link)
	case StateProposed:
		return s.inbox(ctx, tx, now, "enterprise:"+app.USCC, "decision", "申请拟予支持", name, link)
	case StateWaitlisted:
		return s.inbox(ctx, tx, now, "enterprise:"+app.USCC, "decision", "申请进入候补", name+":"+message, link)
	case StatePublicized:
		return s.inbox(ctx, tx, now, "enterprise:"+app.USCC, "publicity", "申请进入公示", name+":"+message, link)
	case StateApproved:
		return s.inbox(ctx, tx, now, "enterprise:"+app.USCC, "decision", "申请已批准,等待拨付", name, link)
	case StatePaid:
		return s.inbox(ctx, tx, now, "enterprise:"+app.USCC, "payment", "支持资金已拨付", name+" "+money.FormatGrouped(int64(app.Approved))+" 元:"+message, link)
	}
	return nil
}

// Inbox returns the actor's messages: addressed to the user, the
// enterprise, the department or the role.
func (s *Service) Inbox(ctx context.Context, a Actor, limit int) ([]Message, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	recipients := []any{"user:" + a.ID, "role:" + a.Role}
	if a.Enterprise != "" {
		recipients = append(recipients, "enterprise:"+a.Enterprise)
	}
	if a.Department != "" {
		recipients = append(recipients, "dept:"+a.Department)
	}
	q := `SELECT id, kind, subject, body, link, created_at, read_at FROM desk_inbox WHERE recipient IN (` + store.Placeholders(len(recipients)) + `) ORDER BY id DESC LIMIT ?`
	rows, err := s.db.Query(ctx, q, append(recipients, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var at int64
		var read *int64
		if err := rows.Scan(&m.ID, &m.Kind, &m.Subject, &m.Body, &m.Link, &at, &read); err != nil {
			return nil, err
		}
		m.CreatedAt = fromNanos(at)
		if read != nil {
			t := fromNanos(*read)
			m.ReadAt = &t
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
