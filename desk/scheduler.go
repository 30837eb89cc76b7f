package desk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"
)

// Run is the server's scheduler: every interval it approves the awards of
// ended 公示 windows and delivers pending webhook notifications, until ctx
// ends. Several instances may run it: each step is safe to repeat.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		if n, r, err := s.CloseWindows(ctx); err != nil {
			s.opt.Logger.Error("公示到期处理失败 closing publicity windows", "err", err)
		} else if n+r > 0 {
			s.opt.Logger.Info("公示期满 publicity windows closed", "approved", n, "refused", r)
		}
		if _, err := s.DeliverOutbox(ctx, client); err != nil {
			s.opt.Logger.Warn("webhook delivery", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sign returns the signature header value of a webhook body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// DeliverOutbox posts the due notifications to the webhook, oldest first,
// retrying failures with exponential backoff (at most a day apart).
func (s *Service) DeliverOutbox(ctx context.Context, client *http.Client) (int, error) {
	if s.opt.WebhookURL == "" {
		return 0, nil
	}
	now := s.now()
	rows, err := s.db.Query(ctx, `SELECT id, payload, attempts FROM desk_outbox WHERE sent_at IS NULL AND next_at <= ? ORDER BY id LIMIT 100`, nanos(now))
	if err != nil {
		return 0, err
	}
	type msg struct {
		id       int64
		payload  string
		attempts int
	}
	var due []msg
	for rows.Next() {
		var m msg
		if err := rows.Scan(&m.id, &m.payload, &m.attempts); err != nil {
			rows.Close()
			return 0, err
		}
		due = append(due, m)
	}
	rows.Close()
	if len(due) == 0 {
		return 0, nil
	}
	// A message must not leave before the change it reports is durable: on
	// SQLite a reader can see a commit while its group fsync is still
	// running (store.DB.Sync).
	if err := s.db.Sync(); err != nil {
		return 0, err
	}
	sent := 0
	for _, m := range due {
		body := []byte(m.payload)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opt.WebhookURL, bytes.NewReader(body))
		if err != nil {
			return sent, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Policydesk-Signature", Sign(s.opt.WebhookSecret, body))
		req.Header.Set("X-Policydesk-Delivery", fmt.Sprint(m.id))
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				err = fmt.Errorf("webhook answered %s", resp.Status)
			}
		}
		if err != nil {
			backoff := min(time.Duration(1<<min(m.attempts, 16))*time.Second, 24*time.Hour)
			if _, uerr := s.db.Exec(ctx, `UPDATE desk_outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`, nanos(now.Add(backoff)), limitText(err.Error(), 500), m.id); uerr != nil {
				return sent, uerr
			}
			continue
		}
		if _, err := s.db.Exec(ctx, `UPDATE desk_outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?`, nanos(s.now()), m.id); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}
