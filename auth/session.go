package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"policydesk/apperr"
	"policydesk/store"
)

// Session is a signed-in browser or client. ID is the secret the client
// holds (its cookie); the database stores only its SHA-256.
type Session struct {
	ID        string    `json:"-"` // 32 random bytes, base64url without padding
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	Expires   time.Time `json:"expires"` // the earlier of the idle and the absolute limit
}

// Throttled is the cause behind a rate_limited login: when to try again.
type Throttled struct{ Until time.Time }

func (t *Throttled) Error() string {
	return "auth: login throttled until " + t.Until.Format(time.RFC3339)
}

// RetryAfter returns how long from now the client must wait, rounded up
// to whole seconds (at least 1).
func (t *Throttled) RetryAfter(now time.Time) time.Duration {
	d := t.Until.Sub(now)
	return time.Duration(max(1, int64(math.Ceil(d.Seconds())))) * time.Second
}

func errBadLogin() *apperr.Error {
	return apperr.New(apperr.Unauthorized, "登录名或密码错误", "wrong login or password")
}

func errSignedOut() *apperr.Error {
	return apperr.New(apperr.Unauthorized, "未登录或登录已过期，请重新登录", "not signed in, or the session has expired")
}

const sessionIDLen = 43 // base64url of 32 bytes, unpadded

func newSessionID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func wellFormedID(id string) bool {
	if len(id) != sessionIDLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

var (
	dummyOnce sync.Once
	dummyHash string
)

// dummy returns a hash to check when the login does not exist, so that an
// unknown login costs as long as a wrong password and cannot be told apart.
func dummy() string {
	dummyOnce.Do(func() { dummyHash, _ = HashPassword("policydesk-no-such-user") })
	return dummyHash
}

// Login checks login and password and opens a new session. Failures are
// counted per login and per remote address in the database; after
// MaxFailures (MaxIPFailures) of them, each attempt must wait a delay that
// doubles with every further failure, and attempts during the delay are
// refused with rate_limited (cause *Throttled) without checking anything.
func (s *Store) Login(ctx context.Context, login, password, remoteIP string, now time.Time) (Principal, Session, error) {
	now = now.UTC()
	if g := s.gate.Load(); g != nil {
		if err := (*g)(); err != nil {
			return Principal{}, Session{}, err
		}
	}
	subjects := []string{"login:" + loginKey(login)}
	if remoteIP != "" {
		subjects = append(subjects, "ip:"+remoteIP)
	}
	if until, err := s.lockedUntil(ctx, subjects, now); err != nil {
		return Principal{}, Session{}, err
	} else if until.After(now) {
		return Principal{}, Session{}, throttled(until, now)
	}
	cred, found, err := s.credentials(ctx, login)
	if err != nil {
		return Principal{}, Session{}, err
	}
	// The argon2 check runs outside any transaction: holding SQLite's one
	// write lock for ~85 ms per login would stall every other writer.
	ok := false
	if found {
		ok = CheckPassword(cred.hash, password)
	} else {
		CheckPassword(dummy(), password)
	}
	if !ok {
		if err := s.fail(ctx, subjects, login, now); err != nil {
			return Principal{}, Session{}, err
		}
		return Principal{}, Session{}, errBadLogin()
	}
	if cred.user.Disabled {
		return Principal{}, Session{}, apperr.New(apperr.Forbidden, "账号已停用，请联系管理员", "the account is disabled")
	}
	sess := Session{ID: newSessionID(), UserID: cred.user.ID, CreatedAt: now, LastSeen: now}
	sess.Expires = s.expiry(sess)
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		// A success forgets the login's failures but not the address's: an
		// attacker with one valid account must not reset the address's count.
		if _, err := tx.Exec(ctx, `DELETE FROM auth_throttle WHERE subject = ?`, subjects[0]); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth_sessions (id_hash, user_id, created_at, last_seen, expires_at, remote_ip) VALUES (?, ?, ?, ?, ?, ?)`,
			hashID(sess.ID), sess.UserID, nanos(now), nanos(now), nanos(now.Add(s.opt.AbsoluteTimeout)), remoteIP)
		return err
	})
	if err != nil {
		return Principal{}, Session{}, err
	}
	return cred.user.Principal(), sess, nil
}

func throttled(until, now time.Time) error {
	t := &Throttled{Until: until}
	secs := int64(t.RetryAfter(now) / time.Second)
	e := apperr.Wrap(t, apperr.RateLimited,
		fmt.Sprintf("登录失败次数过多，请 %d 秒后再试", secs),
		fmt.Sprintf("too many failed logins; try again in %d s", secs))
	return e
}

// lockedUntil returns the latest lock among subjects.
func (s *Store) lockedUntil(ctx context.Context, subjects []string, now time.Time) (time.Time, error) {
	rows, err := s.db.Query(ctx, `SELECT locked_until FROM auth_throttle WHERE subject IN (`+store.Placeholders(len(subjects))+`)`, anySlice(subjects)...)
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	var until int64
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return time.Time{}, err
		}
		until = max(until, u)
	}
	return fromNanos(until), rows.Err()
}

// fail counts a failed login against each subject and sets a lock when a
// subject reaches its limit. The count is computed by the database in one
// upsert, so that concurrent failures on several instances all count.
func (s *Store) fail(ctx context.Context, subjects []string, login string, now time.Time) error {
	forget := nanos(now.Add(-s.opt.FailureWindow))
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		for i, subj := range subjects {
			limit := s.opt.MaxFailures
			if i > 0 {
				limit = s.opt.MaxIPFailures
			}
			var failures int
			err := tx.QueryRow(ctx, `INSERT INTO auth_throttle (subject, failures, last_failure, locked_until) VALUES (?, 1, ?, 0)
				ON CONFLICT (subject) DO UPDATE SET
					failures = CASE WHEN auth_throttle.last_failure < ? AND auth_throttle.locked_until < ? THEN 1 ELSE auth_throttle.failures + 1 END,
					last_failure = excluded.last_failure
				RETURNING failures`, subj, nanos(now), forget, forget).Scan(&failures)
			if err != nil {
				return err
			}
			if failures < limit {
				continue
			}
			until := now.Add(s.lockDelay(failures - limit))
			if _, err := tx.Exec(ctx, `UPDATE auth_throttle SET locked_until = ? WHERE subject = ?`, nanos(until), subj); err != nil {
				return err
			}
			err = s.recordAudit(ctx, tx, Event{At: now, Actor: Principal{Login: login}, Action: "login.lockout", Entity: "login_throttle", Subject: subj,
				After: map[string]any{"login": login, "failures": failures, "locked_until": until}})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// lockDelay is LockBase doubled n times, at most LockMax.
func (s *Store) lockDelay(n int) time.Duration {
	d := s.opt.LockBase
	for i := 0; i < n && d < s.opt.LockMax; i++ {
		d *= 2
	}
	return min(d, s.opt.LockMax)
}

func (s *Store) expiry(sess Session) time.Time {
	idle := sess.LastSeen.Add(s.opt.IdleTimeout)
	abs := sess.CreatedAt.Add(s.opt.AbsoluteTimeout)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// Lookup returns the principal and session of a session id. It ends and
// refuses a session unused for IdleTimeout or older than AbsoluteTimeout,
// and one whose user was disabled.
//
// What the database said about a session is reused for SessionCacheTTL
// (see sessionCache): logout, password change and disabling in this
// process take effect at once; in another instance, within that time.
func (s *Store) Lookup(ctx context.Context, id string, now time.Time) (Principal, Session, error) {
	now = now.UTC()
	if !wellFormedID(id) {
		return Principal{}, Session{}, errSignedOut()
	}
	h := hashID(id)
	if e, ok := s.cache.get(h); ok {
		sess := Session{ID: id, UserID: e.p.UserID, CreatedAt: e.created, LastSeen: e.seen}
		sess.Expires = s.expiry(sess)
		if e.abs.Before(sess.Expires) {
			sess.Expires = e.abs
		}
		if now.Before(sess.Expires) && now.Sub(sess.LastSeen) < s.opt.TouchEvery {
			return e.p, sess, nil
		}
		// Expired, or due to be touched: the database decides.
	}
	gen := s.cache.generation()
	var u User
	var role string
	var disabled int
	var created, seen, expires int64
	err := s.db.QueryRow(ctx, `SELECT s.user_id, s.created_at, s.last_seen, s.expires_at,
			u.login, u.name, u.role, u.enterprise, u.department, u.disabled
		FROM auth_sessions s JOIN auth_users u ON u.id = s.user_id WHERE s.id_hash = ?`, h).
		Scan(&u.ID, &created, &seen, &expires, &u.Login, &u.Name, &role, &u.Enterprise, &u.Department, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		s.cache.dropSession(h)
		return Principal{}, Session{}, errSignedOut()
	}
	if err != nil {
		return Principal{}, Session{}, err
	}
	u.Role = Role(role)
	sess := Session{ID: id, UserID: u.ID, CreatedAt: fromNanos(created), LastSeen: fromNanos(seen)}
	sess.Expires = s.expiry(sess)
	if abs := fromNanos(expires); abs.Before(sess.Expires) {
		sess.Expires = abs
	}
	if disabled != 0 || !now.Before(sess.Expires) {
		if _, err := s.db.Exec(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, h); err != nil {
			return Principal{}, Session{}, err
		}
		s.cache.dropSession(h)
		return Principal{}, Session{}, errSignedOut()
	}
	if now.Sub(sess.LastSeen) >= s.opt.TouchEvery {
		if _, err := s.db.Exec(ctx, `UPDATE auth_sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?`, nanos(now), h, nanos(now)); err != nil {
			return Principal{}, Session{}, err
		}
		sess.LastSeen = now
		sess.Expires = s.expiry(sess)
		if abs := fromNanos(expires); abs.Before(sess.Expires) {
			sess.Expires = abs
		}
	}
	p := u.Principal()
	s.cache.put(h, gen, cachedSession{p: p, created: sess.CreatedAt, seen: sess.LastSeen, abs: fromNanos(expires), read: time.Now()})
	return p, sess, nil
}

// Logout ends the session id. Ending a session that does not exist is not
// an error: the client is signed out either way.
func (s *Store) Logout(ctx context.Context, id string) error {
	if !wellFormedID(id) {
		return nil
	}
	h := hashID(id)
	_, err := s.db.Exec(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, h)
	// Forgotten after the delete, so that no lookup running meanwhile puts
	// it back (see sessionCache); and even when the delete failed.
	s.cache.dropSession(h)
	return err
}

// LogoutEverywhere ends every session of userID, on every device.
func (s *Store) LogoutEverywhere(ctx context.Context, userID string) error {
	now := s.opt.Now().UTC()
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM auth_sessions WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		return s.recordAudit(ctx, tx, Event{At: now, Actor: FromContext(ctx), Action: "session.logout_everywhere", Entity: "user", Subject: userID,
			After: map[string]any{"sessions_ended": n}})
	})
	s.cache.dropUser(userID, 0)
	return err
}

// PurgeExpired deletes sessions past their absolute limit or idle for
// longer than IdleTimeout, and throttling rows that have been quiet for
// FailureWindow. The server calls it now and then; Lookup refuses expired
// sessions whether or not they were purged.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM auth_sessions WHERE expires_at <= ? OR last_seen <= ?`,
			nanos(now), nanos(now.Add(-s.opt.IdleTimeout)))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		forget := nanos(now.Add(-s.opt.FailureWindow))
		_, err = tx.Exec(ctx, `DELETE FROM auth_throttle WHERE last_failure < ? AND locked_until < ?`, forget, forget)
		return err
	})
	return n, err
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
