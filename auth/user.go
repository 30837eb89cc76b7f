package auth

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"policydesk/apperr"
	"policydesk/store"
)

const userColumns = `id, login, name, role, enterprise, department, disabled, created_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (User, error) {
	var u User
	var role string
	var disabled int
	var created int64
	if err := row.Scan(&u.ID, &u.Login, &u.Name, &role, &u.Enterprise, &u.Department, &disabled, &created); err != nil {
		return User{}, err
	}
	u.Role, u.Disabled, u.CreatedAt = Role(role), disabled != 0, fromNanos(created)
	return u, nil
}

func errNoUser() *apperr.Error { return apperr.New(apperr.NotFound, "用户不存在", "no such user") }

// AddUser creates a user with password. It refuses an invalid login,
// role, name, a password shorter than MinPassword, a reviewer without a
// department, an enterprise or provider user without a valid USCC, and a
// login already taken (conflict). The actor of the audit row is the
// principal in ctx (NewContext).
//
// With a nil tx, AddUser hashes the password first and then runs its own
// transaction; given a tx, the hash (~85 ms) is computed while tx is open.
func (s *Store) AddUser(ctx context.Context, tx *store.Tx, u User, password string) (User, error) {
	u, err := s.validate(u)
	if err != nil {
		return User{}, err
	}
	if err := ValidatePassword(password); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, err
	}
	now := s.opt.Now().UTC()
	u.ID = randomID("u_", 10)
	u.Disabled = false
	u.CreatedAt = fromNanos(nanos(now))
	insert := func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO auth_users (id, login, login_key, name, role, enterprise, department, password_hash, disabled, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			u.ID, u.Login, loginKey(u.Login), u.Name, string(u.Role), u.Enterprise, u.Department, hash, nanos(now), nanos(now))
		if store.IsUniqueViolation(err) {
			return apperr.Newf(apperr.Conflict, "登录名 %s 已被使用", "login %s is taken", u.Login).WithField("login")
		}
		if err != nil {
			return err
		}
		return s.recordAudit(ctx, tx, Event{At: now, Actor: FromContext(ctx), Action: "user.add", Entity: "user", Subject: u.ID, Enterprise: u.Enterprise, After: u})
	}
	if tx != nil {
		err = insert(tx)
	} else {
		err = s.db.Tx(ctx, insert)
	}
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM auth_users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errNoUser()
	}
	return u, err
}

// UserByLogin returns the user whose login is login (case-insensitive).
func (s *Store) UserByLogin(ctx context.Context, login string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM auth_users WHERE login_key = ?`, loginKey(login)))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errNoUser()
	}
	return u, err
}

// Users lists the users with role, or all users when role is "", by login.
func (s *Store) Users(ctx context.Context, role Role) ([]User, error) {
	q := `SELECT ` + userColumns + ` FROM auth_users`
	var args []any
	if role != "" {
		q += ` WHERE role = ?`
		args = append(args, string(role))
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY login_key`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// HasAdmin reports whether an enabled admin exists; a fresh installation
// has none until `policydesk user add --role admin` runs.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM auth_users WHERE role = ? AND disabled = 0`, string(RoleAdmin)).Scan(&n)
	return n > 0, err
}

// SetDisabled disables or enables a user. Disabling ends all the user's
// sessions in the same transaction. Nobody disables themselves: the last
// admin could lock everyone out.
func (s *Store) SetDisabled(ctx context.Context, tx *store.Tx, id string, disabled bool) error {
	actor := FromContext(ctx)
	if disabled && actor.UserID == id {
		return apperr.New(apperr.Forbidden, "不能停用自己的账号", "you cannot disable your own account")
	}
	now := s.opt.Now().UTC()
	run := func(tx *store.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM auth_users WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errNoUser()
		}
		if err != nil {
			return err
		}
		if u.Disabled == disabled {
			return nil
		}
		flag, action := 0, "user.enable"
		if disabled {
			flag, action = 1, "user.disable"
		}
		if _, err := tx.Exec(ctx, `UPDATE auth_users SET disabled = ?, updated_at = ? WHERE id = ?`, flag, nanos(now), id); err != nil {
			return err
		}
		if disabled {
			if _, err := tx.Exec(ctx, `DELETE FROM auth_sessions WHERE user_id = ?`, id); err != nil {
				return err
			}
		}
		after := u
		after.Disabled = disabled
		return s.recordAudit(ctx, tx, Event{At: now, Actor: actor, Action: action, Entity: "user", Subject: id, Enterprise: u.Enterprise, Before: u, After: after})
	}
	return s.runUserChange(ctx, tx, id, run)
}

// SetPassword replaces a user's password and ends all the user's sessions.
func (s *Store) SetPassword(ctx context.Context, tx *store.Tx, id, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	now := s.opt.Now().UTC()
	run := func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE auth_users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, nanos(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoUser()
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth_sessions WHERE user_id = ?`, id); err != nil {
			return err
		}
		return s.recordAudit(ctx, tx, Event{At: now, Actor: FromContext(ctx), Action: "user.password", Entity: "user", Subject: id})
	}
	return s.runUserChange(ctx, tx, id, run)
}

// credentials is what Login reads about a login.
type credentials struct {
	user User
	hash string
}

func (s *Store) credentials(ctx context.Context, login string) (credentials, bool, error) {
	var c credentials
	var role string
	var disabled int
	var created int64
	err := s.db.QueryRow(ctx, `SELECT id, login, name, role, enterprise, department, disabled, created_at, password_hash
		FROM auth_users WHERE login_key = ?`, loginKey(login)).
		Scan(&c.user.ID, &c.user.Login, &c.user.Name, &role, &c.user.Enterprise, &c.user.Department, &disabled, &created, &c.hash)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	c.user.Role, c.user.Disabled, c.user.CreatedAt = Role(role), disabled != 0, time.Unix(0, created).UTC()
	return c, true, nil
}

// runUserChange runs a change that ends a user's sessions (disabling, a
// new password) and drops them from the session cache: after the commit
// when auth runs the transaction; when the caller's tx runs it, at once
// and the user's sessions are not cached for a minute after, by which
// time the caller has committed.
func (s *Store) runUserChange(ctx context.Context, tx *store.Tx, userID string, run func(tx *store.Tx) error) error {
	if tx != nil {
		s.cache.dropUser(userID, time.Minute)
		return run(tx)
	}
	err := s.db.Tx(ctx, run)
	s.cache.dropUser(userID, 0)
	return err
}
