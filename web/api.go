package web

import (
	"context"
	"net/http"
	"time"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/policy"
	"policydesk/store"
)

// builtinRoutes is the server's own route table; the workflow's routes
// are added with Handle.
func (s *Server) builtinRoutes() []Route {
	admin := []auth.Role{auth.RoleAdmin}
	return []Route{
		{Method: "GET", Pattern: "/healthz", Public: true, Tag: "ops", Summary: "进程存活 liveness", Response: Health{}, Handler: s.handleHealthz},
		{Method: "GET", Pattern: "/readyz", Public: true, Tag: "ops", Summary: "可以接收请求（数据库可用、结构最新）readiness", Response: Health{}, Handler: s.handleReadyz},
		{Method: "GET", Pattern: "/metrics", Public: true, Tag: "ops", Summary: "Prometheus 指标 metrics", Handler: s.handleMetrics},
		{Method: "GET", Pattern: "/api/v1/openapi.json", Public: true, Tag: "meta", Summary: "本 API 的 OpenAPI 3.1 文档", Handler: s.handleOpenAPI},

		{Method: "POST", Pattern: "/api/v1/session", Public: true, Tag: "session", Summary: "登录 sign in",
			Request: LoginRequest{}, Response: SessionResponse{}, Handler: s.handleLogin},
		{Method: "DELETE", Pattern: "/api/v1/session", Roles: SignedIn, Tag: "session", Summary: "退出登录 sign out", Handler: s.handleLogout},
		{Method: "DELETE", Pattern: "/api/v1/sessions", Roles: SignedIn, Tag: "session", Summary: "在所有设备上退出 sign out everywhere", Handler: s.handleLogoutEverywhere},
		{Method: "GET", Pattern: "/api/v1/me", Roles: SignedIn, Tag: "session", Summary: "当前用户 who am I", Response: SessionResponse{}, Handler: s.handleMe},

		{Method: "POST", Pattern: "/api/v1/evaluate", Public: true, Tag: "policy", Summary: "政策计算：评估一个案例（RULES.md §5），?lang=en 英文说明",
			Request: EvaluateRequest{}, Response: EvaluateResponse{}, Handler: s.handleEvaluate},
		{Method: "GET", Pattern: "/api/v1/policy", Public: true, Tag: "policy", Summary: "政策全文：条款、支持事项、所需事实与材料、责任部门、资金池",
			Response: PolicyDoc{}, Handler: s.handlePolicyJSON},

		{Method: "GET", Pattern: "/api/v1/users", Roles: admin, Tag: "users", Summary: "用户列表 list users", Response: UsersResponse{}, Handler: s.handleUsers},
		{Method: "POST", Pattern: "/api/v1/users", Roles: admin, Tag: "users", Summary: "新建用户 add a user", Request: NewUserRequest{}, Response: auth.User{}, Handler: s.handleAddUser},
		{Method: "POST", Pattern: "/api/v1/users/{id}/disable", Roles: admin, Tag: "users", Summary: "停用用户（并结束其全部会话）", Response: auth.User{}, Handler: s.handleSetDisabled(true)},
		{Method: "POST", Pattern: "/api/v1/users/{id}/enable", Roles: admin, Tag: "users", Summary: "启用用户", Response: auth.User{}, Handler: s.handleSetDisabled(false)},

		{Method: "GET", Pattern: "/{$}", Public: true, Tag: "pages", Summary: "首页：政策一览", Handler: s.handleHome},
		{Method: "GET", Pattern: "/policy", Public: true, Tag: "pages", Summary: "政策条款逐条说明", Handler: s.handlePolicyPage},
		{Method: "GET", Pattern: "/calculator", Public: true, Tag: "pages", Summary: "政策计算器", Handler: s.handleCalculator},
		{Method: "POST", Pattern: "/calculator", Public: true, Tag: "pages", Summary: "政策计算器：计算", Handler: s.handleCalculate},
		{Method: "GET", Pattern: "/login", Public: true, Tag: "pages", Summary: "登录页", Handler: s.handleLoginPage},
		{Method: "POST", Pattern: "/login", Public: true, Tag: "pages", Summary: "登录", Handler: s.handleLoginForm},
		{Method: "GET", Pattern: "/logout", Public: true, Tag: "pages", Summary: "退出确认", Handler: s.handleLogoutPage},
		{Method: "POST", Pattern: "/logout", Public: true, Tag: "pages", Summary: "退出", Handler: s.handleLogoutForm},
		{Method: "GET", Pattern: "/account", Roles: SignedIn, Tag: "pages", Summary: "我的账号", Handler: s.handleAccount},
		{Method: "POST", Pattern: "/account/logout-everywhere", Roles: SignedIn, Tag: "pages", Summary: "在所有设备上退出", Handler: s.handleLogoutEverywhereForm},
		{Method: "GET", Pattern: "/static/{path...}", Public: true, Tag: "pages", Summary: "静态文件（内嵌）", Handler: s.handleStatic},
	}
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status  string   `json:"status" doc:"ok or unavailable"`
	Version string   `json:"version"`
	Checks  []string `json:"checks,omitempty" doc:"what is not ready"`
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	return WriteJSON(w, http.StatusOK, Health{Status: "ok", Version: s.cfg.Version})
}

// handleReadyz answers 200 when the database answers and has every
// migration this binary knows, and 503 otherwise or while draining.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var problems []string
	if s.draining.Load() {
		problems = append(problems, "shutting down")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var one int
	if err := s.deps.DB.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		problems = append(problems, "database: "+err.Error())
	} else if missing, err := s.missingMigrations(ctx); err != nil {
		problems = append(problems, "migrations: "+err.Error())
	} else if len(missing) > 0 {
		problems = append(problems, "migrations not applied: "+missing)
	}
	if len(problems) > 0 {
		return WriteJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", Version: s.cfg.Version, Checks: problems})
	}
	return WriteJSON(w, http.StatusOK, Health{Status: "ok", Version: s.cfg.Version})
}

func (s *Server) missingMigrations(ctx context.Context) (string, error) {
	want, err := store.Migrations(s.deps.DB.Dialect())
	if err != nil {
		return "", err
	}
	have, err := s.deps.DB.AppliedMigrations(ctx)
	if err != nil {
		return "", err
	}
	done := map[int]bool{}
	for _, v := range have {
		done[v] = true
	}
	missing := ""
	for _, m := range want {
		if !done[m.Version] {
			missing += " " + m.Name
		}
	}
	return missing, nil
}

// LoginRequest is POST /api/v1/session.
type LoginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// SessionResponse says who is signed in and until when.
type SessionResponse struct {
	User      auth.Principal `json:"user"`
	RoleLabel string         `json:"role_label"`
	Expires   time.Time      `json:"expires" doc:"the session ends then unless used (idle timeout) — and at the latest at its absolute limit"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var req LoginRequest
	if err := DecodeJSONLimit(r, &req, 8<<10); err != nil {
		return err
	}
	p, sess, err := s.login(w, r, req.Login, req.Password)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, SessionResponse{User: p, RoleLabel: p.Role.Label(), Expires: sess.Expires})
}

// login signs in and sets a new session cookie. A session the client
// already holds is ended, never adopted: a cookie planted before login
// (session fixation) is worthless after it.
func (s *Server) login(w http.ResponseWriter, r *http.Request, login, password string) (auth.Principal, auth.Session, error) {
	if c, err := r.Cookie(s.cookieName()); err == nil && c.Value != "" {
		if err := s.deps.Auth.Logout(r.Context(), c.Value); err != nil {
			return auth.Principal{}, auth.Session{}, err
		}
	}
	p, sess, err := s.deps.Auth.Login(r.Context(), login, password, s.clientIP(r), s.cfg.Now())
	if err != nil {
		s.clearSessionCookie(w)
		return p, sess, err
	}
	if st := stateOf(r.Context()); st != nil {
		st.user = p.UserID
	}
	s.setSessionCookie(w, sess)
	return p, sess, nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if c, err := r.Cookie(s.cookieName()); err == nil {
		if err := s.deps.Auth.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	s.clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleLogoutEverywhere(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.deps.Auth.LogoutEverywhere(r.Context(), p.UserID); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var expires time.Time
	if st := stateOf(r.Context()); st != nil {
		expires = st.session.Expires
	}
	return WriteJSON(w, http.StatusOK, SessionResponse{User: p, RoleLabel: p.Role.Label(), Expires: expires})
}

// EvaluateRequest is one case (RULES.md §5) as JSON. Money is yuan as a
// string ("6000000") or a number with at most two decimals.
type EvaluateRequest struct {
	Name       string           `json:"name,omitempty"`
	Date       string           `json:"date,omitempty" doc:"evaluation date YYYY-MM-DD"`
	Enterprise map[string]any   `json:"enterprise,omitempty" doc:"uscc and the enterprise facts (GET /api/v1/policy: enterprise_facts)"`
	History    []map[string]any `json:"history,omitempty" doc:"grants received: {item, year, project, amount}"`
	Pools      []map[string]any `json:"pools,omitempty" doc:"what is left in pools: {item, year, remaining}"`
	Claims     []EvaluateClaim  `json:"claims,omitempty"`
}

// EvaluateClaim asks for one item with its facts.
type EvaluateClaim struct {
	Item  string         `json:"item"`
	Facts map[string]any `json:"facts,omitempty"`
}

// EvaluateResponse is the engine's results, one per claim, with traces.
type EvaluateResponse struct {
	Results []policy.ResultView `json:"results"`
}

func (s *Server) handleEvaluate(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	lang, err := langOf(r)
	if err != nil {
		return err
	}
	var req EvaluateRequest
	if err := DecodeJSONLimit(r, &req, s.cfg.MaxBody); err != nil {
		return err
	}
	res, err := s.evaluate(req, lang)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, EvaluateResponse{Results: res})
}

func langOf(r *http.Request) (policy.Lang, error) {
	switch r.URL.Query().Get("lang") {
	case "", "zh", "zh-Hans", "zh-CN":
		return policy.Chinese, nil
	case "en":
		return policy.English, nil
	}
	return "", apperr.New(apperr.Invalid, "lang 只能是 zh 或 en", "lang must be zh or en").WithField("lang")
}

func (s *Server) handlePolicyJSON(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(s.cat.json)
	return err
}

// UsersResponse lists users.
type UsersResponse struct {
	Users []auth.User `json:"users"`
}

// NewUserRequest is POST /api/v1/users.
type NewUserRequest struct {
	Login      string    `json:"login"`
	Name       string    `json:"name"`
	Role       auth.Role `json:"role"`
	Enterprise string    `json:"enterprise,omitempty" doc:"USCC; required for enterprise and provider users"`
	Department string    `json:"department,omitempty" doc:"department id; required for reviewers"`
	Password   string    `json:"password" doc:"at least 10 characters"`
}

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	role := auth.Role(r.URL.Query().Get("role"))
	if role != "" && !role.Valid() {
		return apperr.New(apperr.Invalid, "未知角色", "unknown role").WithField("role")
	}
	users, err := s.deps.Auth.Users(r.Context(), role)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, UsersResponse{Users: users})
}

func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var req NewUserRequest
	if err := DecodeJSONLimit(r, &req, 16<<10); err != nil {
		return err
	}
	u, err := s.deps.Auth.AddUser(r.Context(), nil, auth.User{Login: req.Login, Name: req.Name, Role: req.Role,
		Enterprise: req.Enterprise, Department: req.Department}, req.Password)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, u)
}

func (s *Server) handleSetDisabled(disabled bool) func(http.ResponseWriter, *http.Request, auth.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		id := r.PathValue("id")
		if err := s.deps.Auth.SetDisabled(r.Context(), nil, id, disabled); err != nil {
			return err
		}
		u, err := s.deps.Auth.User(r.Context(), id)
		if err != nil {
			return err
		}
		return WriteJSON(w, http.StatusOK, u)
	}
}
