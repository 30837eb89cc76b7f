package web

import (
	"bytes"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"policydesk/auth"
	"policydesk/policy"
)

// pageData is what the layout needs on every page.
type pageData struct {
	Title      string
	Nav        string // the current section, for aria-current
	User       auth.Principal
	RoleLabel  string
	Demo       bool
	NeedsAdmin bool
	RequestID  string
	DocNumber  string
	PolicyName string
	Lang       string // the html lang: zh-CN or en
	English    bool
	// SwitchTo is the query that switches the language, on this page.
	SwitchTo string
}

func (s *Server) page(r *http.Request, p auth.Principal, title, nav string) pageData {
	lang := LangOf(r.Context())
	pd := pageData{
		Title: s.T(lang, title), Nav: nav, User: p, RoleLabel: s.T(lang, p.Role.Label()), Demo: s.cfg.Demo,
		NeedsAdmin: s.needsAdmin(r.Context()), RequestID: RequestID(r.Context()),
		DocNumber: s.cat.doc.DocNumber, PolicyName: s.cat.doc.Title,
		Lang: "zh-CN", SwitchTo: switchQuery(r, "en"),
	}
	if lang == policy.English {
		pd.Lang, pd.English, pd.SwitchTo = "en", true, switchQuery(r, "zh")
		if s.cat.doc.TitleEn != "" {
			pd.PolicyName = s.cat.doc.TitleEn
		}
	}
	return pd
}

// switchQuery is the page's own query with lang=to, so switching keeps a
// list's filters.
func switchQuery(r *http.Request, to string) string {
	q := r.URL.Query()
	q.Set("lang", to)
	return "?" + q.Encode()
}

// parseTemplates parses the pages in Chinese and in English (lang.go).
func (s *Server) parseTemplates() (zh, en *template.Template, err error) {
	funcs := template.FuncMap{
		"static": s.static.url,
		"dept":   s.cat.deptName,
		"paras":  paragraphs,
		"inc":    func(i int) int { return i + 1 },
		"dict":   dict,
		"fname": func(prefix string, i int, name string) string {
			return prefix + "." + strconv.Itoa(i) + "." + name
		},
		"article": func(n int) string { return policy.ArticleName(n, policy.Chinese) },
		"yuan":    yuanText,
	}
	sub, err := fs.Sub(assets, "templates")
	if err != nil {
		return nil, nil, err
	}
	if zh, err = template.New("").Funcs(funcs).ParseFS(sub, "*.html"); err != nil {
		return nil, nil, err
	}
	funcs["article"] = func(n int) string { return policy.ArticleName(n, policy.English) }
	funcs["dept"] = s.cat.deptNameEn
	en = template.New("").Funcs(funcs)
	if err := s.parseEnglish(en, sub, "*.html"); err != nil {
		return nil, nil, err
	}
	return zh, en, nil
}

// set is the template set of a language.
// Both are fixed before the server takes traffic (AddTemplates), so it is
// read without the lock, like the set before languages.
func (s *Server) set(lang Lang) *template.Template {
	if lang == policy.English {
		return s.pagesEn
	}
	return s.pages
}

// render writes page template name inside the layout, buffered so that a
// template error becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	lang := LangOf(r.Context())
	var buf bytes.Buffer
	if err := s.set(lang).ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	out := buf.Bytes()
	if lang == policy.English {
		out = s.dict.translatePage(out)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(out)
	return err
}

type errorPage struct {
	pageData
	Status int
	Err    ErrorBody
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, body ErrorBody) {
	p := auth.FromContext(r.Context())
	title := map[int]string{
		http.StatusNotFound: "页面不存在", http.StatusForbidden: "无权访问", http.StatusUnauthorized: "请先登录",
		http.StatusTooManyRequests: "请求过于频繁",
	}[status]
	if title == "" {
		title = "出错了"
		if status >= 500 {
			title = "服务器错误"
		}
	}
	data := errorPage{pageData: s.page(r, p, title, ""), Status: status, Err: body}
	if err := s.render(w, r, status, "error", data); err != nil {
		// The error page itself failed: fall back to plain text.
		http.Error(w, body.Message+" (request "+body.RequestID+")", status)
	}
}

type homePage struct {
	pageData
	Goals   string
	Figures []figure
	Items   []*itemView
	Pools   []PoolDoc
	Doc     PolicyDoc
}

type figure struct{ Value, Unit, Label string }

// goalFigures lifts the 2026 goals out of 总体目标, so that the home page
// shows them as figures; a goal the text no longer states is left out.
func goalFigures(goals string) []figure {
	specs := []struct {
		re    *regexp.Regexp
		unit  string
		label string
	}{
		{regexp.MustCompile(`应用场景(\d+)个`), "个", "人工智能标杆应用场景"},
		{regexp.MustCompile(`核心企业(\d+)家`), "家", "人工智能产业链核心企业"},
		{regexp.MustCompile(`超过(\d+)亿元`), "亿元", "人工智能产业规模（超过）"},
	}
	var out []figure
	for _, sp := range specs {
		if m := sp.re.FindStringSubmatch(goals); m != nil {
			out = append(out, figure{Value: m[1], Unit: sp.unit, Label: sp.label})
		}
	}
	return out
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.render(w, r, http.StatusOK, "home", homePage{
		pageData: s.page(r, p, "政策一览", "home"), Goals: s.cat.goals, Figures: goalFigures(s.cat.goals),
		Items: s.catOf(r).items, Pools: s.catOf(r).doc.Pools, Doc: s.catOf(r).doc,
	})
}

type policyPage struct {
	pageData
	Doc      PolicyDoc
	Chapters []*chapterView
	Sections []SectionDoc
}

func (s *Server) handlePolicyPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.render(w, r, http.StatusOK, "policy", policyPage{
		pageData: s.page(r, p, "政策条款", "policy"), Doc: s.catOf(r).doc, Chapters: s.catOf(r).chapters, Sections: s.catOf(r).doc.Sections,
	})
}

type loginPage struct {
	pageData
	Next  string
	Login string
	Error *ErrorBody
	Demo  []DemoAccount
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	next := safeNext(r.URL.Query().Get("next"))
	if !p.Anonymous() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	page := loginPage{pageData: s.page(r, p, "登录", "login"), Next: next, Demo: s.demoAccounts()}
	if err := s.deps.Auth.LoginGate(); err != nil {
		// Sign-ins are closed for now (the demo is making its data): say
		// so before the visitor types a password.
		_, body, _ := classify(err)
		page.Error = &body
	}
	return s.render(w, r, http.StatusOK, "login", page)
}

func (s *Server) demoAccounts() []DemoAccount {
	if !s.cfg.Demo {
		return nil
	}
	return s.cfg.DemoAccounts
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		return errTooLarge(8 << 10)
	}
	next := safeNext(r.PostForm.Get("next"))
	login := r.PostForm.Get("login")
	_, _, err := s.login(w, r, login, r.PostForm.Get("password"))
	if err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	status, body, internal := classify(err)
	if internal {
		return err
	}
	body.RequestID = RequestID(r.Context())
	if st := stateOf(r.Context()); st != nil {
		st.err = body.Code
	}
	s.setRetryAfter(w, err)
	return s.render(w, r, status, "login", loginPage{pageData: s.page(r, auth.Principal{}, "登录", "login"),
		Next: next, Login: login, Error: &body, Demo: s.demoAccounts()})
}

func (s *Server) setRetryAfter(w http.ResponseWriter, err error) {
	var th *auth.Throttled
	if errors.As(err, &th) {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(th.RetryAfter(s.cfg.Now()).Seconds()), 10))
	}
}

// safeNext keeps a post-login redirect on this site: a path, never
// //host or a scheme.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

func (s *Server) handleLogoutPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if p.Anonymous() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, http.StatusOK, "logout", s.page(r, p, "退出登录", ""))
}

func (s *Server) handleLogoutForm(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if c, err := r.Cookie(s.cookieName()); err == nil {
		if err := s.deps.Auth.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

type accountPage struct {
	pageData
	Dept string
}

func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.render(w, r, http.StatusOK, "account", accountPage{pageData: s.page(r, p, "我的账号", "account"), Dept: s.cat.deptName(p.Department)})
}

func (s *Server) handleLogoutEverywhereForm(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.deps.Auth.LogoutEverywhere(r.Context(), p.UserID); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// paragraphs splits a text at line breaks for <p> elements.
func paragraphs(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// yuanText writes an engine amount ("1800000.00") for people: 180万元 when
// it is whole 万, else with separators.
func yuanText(amount string) string {
	ip, fp, _ := strings.Cut(amount, ".")
	n, err := strconv.ParseInt(ip, 10, 64)
	if err != nil {
		return amount
	}
	if (fp == "" || fp == "00") && n != 0 && n%10000 == 0 {
		return strconv.FormatInt(n/10000, 10) + " 万元"
	}
	var b []byte
	s := strconv.FormatInt(n, 10)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if fp == "" {
		fp = "00"
	}
	return string(b) + "." + fp + " 元"
}

// dict builds a map for passing several values to a sub-template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, errors.New("dict: keys must be strings")
		}
		m[k] = kv[i+1]
	}
	return m, nil
}
