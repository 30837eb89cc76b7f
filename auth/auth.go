// Package auth is who may use policydesk: users with one role each,
// argon2id passwords, server-side sessions and login throttling that every
// instance of the server shares through the database.
//
// The web layer asks auth who a request is (Lookup) and checks the route's
// roles; services scope rows by the Principal's Enterprise and Department.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/audit"
	"policydesk/store"
	"policydesk/uscc"
)

// Role is what a user does on the platform (DESIGN.md "Who uses it").
type Role string

// The roles. A user has exactly one.
const (
	RoleEnterprise Role = "enterprise" // 申报单位
	RoleProvider   Role = "provider"   // 算力/模型服务商
	RoleReviewer   Role = "reviewer"   // 责任部门审核人
	RoleExpert     Role = "expert"     // 评审专家
	RoleFinance    Role = "finance"    // 财政
	RoleAdmin      Role = "admin"      // 管理员
)

// Roles returns every role, in the order pages list them.
func Roles() []Role {
	return []Role{RoleEnterprise, RoleProvider, RoleReviewer, RoleExpert, RoleFinance, RoleAdmin}
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	switch r {
	case RoleEnterprise, RoleProvider, RoleReviewer, RoleExpert, RoleFinance, RoleAdmin:
		return true
	}
	return false
}

// Label is the role's name in Simplified Chinese.
func (r Role) Label() string {
	switch r {
	case RoleEnterprise:
		return "申报单位"
	case RoleProvider:
		return "服务商"
	case RoleReviewer:
		return "责任部门"
	case RoleExpert:
		return "评审专家"
	case RoleFinance:
		return "财政"
	case RoleAdmin:
		return "管理员"
	}
	return string(r)
}

// Principal is who makes a request. The zero value is an anonymous visitor.
type Principal struct {
	UserID     string `json:"user_id"`
	Login      string `json:"login"`
	Name       string `json:"name"`
	Role       Role   `json:"role"`
	Enterprise string `json:"enterprise,omitempty"` // USCC of enterprise and provider users
	Department string `json:"department,omitempty"` // department id of reviewers, e.g. "info_tech"
}

// Anonymous reports whether p is a visitor who has not signed in.
func (p Principal) Anonymous() bool { return p.UserID == "" }

// User is an account.
type User struct {
	ID         string    `json:"id"`
	Login      string    `json:"login"`
	Name       string    `json:"name"`
	Role       Role      `json:"role"`
	Enterprise string    `json:"enterprise,omitempty"`
	Department string    `json:"department,omitempty"`
	Disabled   bool      `json:"disabled"`
	CreatedAt  time.Time `json:"created_at"`
}

// Principal returns the user as a request's principal.
func (u User) Principal() Principal {
	return Principal{UserID: u.ID, Login: u.Login, Name: u.Name, Role: u.Role, Enterprise: u.Enterprise, Department: u.Department}
}

type ctxKey struct{}

// NewContext returns ctx carrying p, so that services and audit rows know
// who acts without a parameter on every call.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of ctx; anonymous when there is none.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(ctxKey{}).(Principal)
	return p
}

// Event is one change that auth asks the audit trail to record, in the
// transaction of the change.
type Event struct {
	At      time.Time
	Actor   Principal // who acted; anonymous for a failed login
	Action  string    // user.add, user.disable, user.enable, user.password, login.lockout, session.logout_everywhere
	Entity  string    // "user" or "login_throttle"
	Subject string    // the user id, or the throttled subject (login:…, ip:…)
	// Enterprise is the USCC of the user concerned, when it has one.
	Enterprise string
	Before     any // the state before, when there is one
	After      any // the state after
}

// Options tune a Store. Zero fields take the defaults.
type Options struct {
	IdleTimeout     time.Duration // a session unused this long ends; default 30 min
	AbsoluteTimeout time.Duration // a session ends this long after login; default 12 h
	// TouchEvery bounds how often Lookup writes last_seen: a write per
	// request would serialise every page view on SQLite's one writer. The
	// idle timeout can thus end a session up to TouchEvery early, never late.
	TouchEvery time.Duration // default 1 min
	// SessionCacheTTL is how long Lookup reuses what the database said
	// about a session (default 5 s; negative: never). Logout, password
	// changes and disabling in this process take effect at once; in
	// another instance sharing the database, within this time.
	SessionCacheTTL time.Duration
	// SessionCacheMax bounds the cached sessions (default 100,000).
	SessionCacheMax int

	MaxFailures   int           // failed logins for one login before a delay; default 5
	MaxIPFailures int           // failed logins from one address before a delay; default 20
	LockBase      time.Duration // first delay; each further failure doubles it; default 1 s
	LockMax       time.Duration // longest delay; default 15 min
	FailureWindow time.Duration // quiet time after which failures are forgotten; default 15 min

	// ValidDepartment says whether a reviewer's department exists (the
	// policy bundle knows); by default any lower-case identifier passes.
	ValidDepartment func(id string) bool
	// Audit, when set, records events in place of audit.Append (tests).
	Audit func(ctx context.Context, tx *store.Tx, e Event) error
	// RequestID returns the id of the request ctx belongs to, for audit
	// rows (the server passes web.RequestID).
	RequestID func(ctx context.Context) string
	Now       func() time.Time // for AddUser and friends; time.Now by default
	Logger    *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.IdleTimeout, 30*time.Minute)
	def(&o.AbsoluteTimeout, 12*time.Hour)
	def(&o.TouchEvery, time.Minute)
	if o.SessionCacheTTL == 0 {
		o.SessionCacheTTL = 5 * time.Second
	}
	if o.SessionCacheMax <= 0 {
		o.SessionCacheMax = 100_000
	}
	def(&o.LockBase, time.Second)
	def(&o.LockMax, 15*time.Minute)
	def(&o.FailureWindow, 15*time.Minute)
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.MaxIPFailures <= 0 {
		o.MaxIPFailures = 20
	}
	if o.ValidDepartment == nil {
		o.ValidDepartment = func(id string) bool { return deptRE.MatchString(id) }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store keeps users, sessions and throttling state in the database.
type Store struct {
	db    *store.DB
	opt   Options
	cache *sessionCache // nil when SessionCacheTTL < 0
	gate  atomic.Pointer[func() error]
}

// SetLoginGate makes Login ask gate first and refuse with its error while
// it returns one (the demo refuses sign-ins while its data is being made);
// nil removes the gate.
func (s *Store) SetLoginGate(gate func() error) {
	if gate == nil {
		s.gate.Store(nil)
		return
	}
	s.gate.Store(&gate)
}

// LoginGate returns what the login gate says now: nil when sign-ins are
// open (or there is no gate), else the error Login would answer. Pages use
// it to tell a visitor before they try.
func (s *Store) LoginGate() error {
	if g := s.gate.Load(); g != nil {
		return (*g)()
	}
	return nil
}

// NewStore returns a Store on db with the default options.
func NewStore(db *store.DB) *Store { return NewStoreWithOptions(db, Options{}) }

// NewStoreWithOptions returns a Store on db with opt.
func NewStoreWithOptions(db *store.DB, opt Options) *Store {
	opt = opt.withDefaults()
	return &Store{db: db, opt: opt, cache: newSessionCache(opt.SessionCacheTTL, opt.SessionCacheMax)}
}

// SetAudit sets the function that records auth's events in the audit
// trail (Options.Audit), for wiring done after the store exists. Call it
// before the store is used.
func (s *Store) SetAudit(fn func(ctx context.Context, tx *store.Tx, e Event) error) { s.opt.Audit = fn }

// Options returns the options in effect.
func (s *Store) Options() Options { return s.opt }

// recordAudit is the one place where auth writes to the audit trail, in
// the transaction of the change it records: audit.Append, hash-chained
// with everything else. Options.Audit replaces it (tests).
func (s *Store) recordAudit(ctx context.Context, tx *store.Tx, e Event) error {
	if s.opt.Audit != nil {
		return s.opt.Audit(ctx, tx, e)
	}
	entry := audit.Entry{
		At: e.At, ActorID: e.Actor.UserID, ActorRole: string(e.Actor.Role), Action: e.Action,
		Entity: e.Entity, EntityID: e.Subject, Enterprise: e.Enterprise,
	}
	if e.Actor.Anonymous() {
		entry.ActorID, entry.ActorRole = "anonymous", "public"
	}
	if s.opt.RequestID != nil {
		entry.RequestID = s.opt.RequestID(ctx)
	}
	var err error
	if e.Before != nil {
		if entry.Before, err = json.Marshal(e.Before); err != nil {
			return err
		}
	}
	if e.After != nil {
		if entry.After, err = json.Marshal(e.After); err != nil {
			return err
		}
	}
	_, err = audit.Append(ctx, tx, entry)
	return err
}

var (
	loginRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$`)
	deptRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// MinPassword is the shortest password accepted, in characters.
const MinPassword = 10

// maxPassword bounds what is hashed, in bytes.
const maxPassword = 1024

// ValidatePassword refuses passwords that are too short or too long.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return apperr.New(apperr.Invalid, "密码不是有效的 UTF-8 文本", "password is not valid UTF-8").WithField("password")
	}
	if utf8.RuneCountInString(pw) < MinPassword {
		return apperr.Newf(apperr.Invalid, "密码至少需要 %d 个字符", "the password needs at least %d characters", MinPassword).WithField("password")
	}
	if len(pw) > maxPassword {
		return apperr.Newf(apperr.Invalid, "密码不能超过 %d 字节", "the password may not exceed %d bytes", maxPassword).WithField("password")
	}
	return nil
}

// validate checks u for AddUser and returns it normalised.
func (s *Store) validate(u User) (User, error) {
	u.Login = strings.TrimSpace(u.Login)
	u.Name = strings.TrimSpace(u.Name)
	u.Enterprise = strings.TrimSpace(u.Enterprise)
	u.Department = strings.TrimSpace(u.Department)
	if !loginRE.MatchString(u.Login) {
		return u, apperr.New(apperr.Invalid, "登录名须为 3–64 个字母、数字或 . _ @ -，并以字母或数字开头",
			"a login is 3–64 letters, digits or . _ @ -, starting with a letter or digit").WithField("login")
	}
	if u.Name == "" || !utf8.ValidString(u.Name) || utf8.RuneCountInString(u.Name) > 100 ||
		strings.IndexFunc(u.Name, unicode.IsControl) >= 0 {
		return u, apperr.New(apperr.Invalid, "姓名或单位名称不能为空，且不超过 100 个字符", "a name is required, at most 100 characters").WithField("name")
	}
	if !u.Role.Valid() {
		return u, apperr.Newf(apperr.Invalid, "未知角色 %q", "unknown role %q", string(u.Role)).WithField("role")
	}
	switch u.Role {
	case RoleEnterprise, RoleProvider:
		if err := uscc.Validate(u.Enterprise); err != nil {
			return u, apperr.Wrap(err, apperr.Invalid, "统一社会信用代码无效", "invalid unified social credit code").WithField("enterprise")
		}
		if u.Department != "" {
			return u, apperr.New(apperr.Invalid, "申报单位和服务商账号不属于责任部门", "enterprise and provider users have no department").WithField("department")
		}
	default:
		// Experts and others may name their employer, so that conflicts of
		// interest can be checked; when given, it must be a valid code.
		if u.Enterprise != "" {
			if err := uscc.Validate(u.Enterprise); err != nil {
				return u, apperr.Wrap(err, apperr.Invalid, "统一社会信用代码无效", "invalid unified social credit code").WithField("enterprise")
			}
		}
	}
	if u.Role == RoleReviewer && u.Department == "" {
		return u, apperr.New(apperr.Invalid, "责任部门账号须指定部门", "a reviewer needs a department").WithField("department")
	}
	if u.Department != "" && !s.opt.ValidDepartment(u.Department) {
		return u, apperr.Newf(apperr.Invalid, "未知部门 %q", "unknown department %q", u.Department).WithField("department")
	}
	return u, nil
}

// randomID returns prefix followed by n random bytes in hex.
func randomID(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return prefix + hex.EncodeToString(b)
}

func loginKey(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

func nanos(t time.Time) int64 { return t.UTC().UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
