// Package portal is the workflow's pages: the enterprise portal (profile
// and facts, what it can get, applications with their timeline, the form
// of each item, 补正, inbox, payment receipts), the workbenches of
// reviewers, experts, finance and admins, the public 公示 lists with the
// objection form, and the dashboard.
//
// Every page is a route of the server's route table with the same roles as
// the JSON API's route for the same action (web/deskapi), and every page
// calls the same desk.Service method, which scopes rows to the caller: an
// enterprise sees only its own applications, a reviewer only its
// department's. Forms are plain HTML (POST, then redirect with a one-time
// message); htmx only makes filters swap the list in place.
package portal

import (
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/desk"
	"policydesk/policy"
	"policydesk/web"
)

//go:embed templates
var templates embed.FS

// Options configure the pages.
type Options struct {
	// Now is the clock of estimates and the dashboard; time.Now by default.
	// Give the desk service's clock.
	Now func() time.Time
	// DashboardTTL is how long the dashboard's figures are reused before
	// they are computed again (in the background); 2 seconds by default,
	// negative for never.
	DashboardTTL time.Duration
}

// Register adds the portal's pages (and the dashboard's JSON and .xlsx
// endpoints) to srv.
func Register(srv *web.Server, svc *desk.Service, users *auth.Store, opt Options) error {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.DashboardTTL == 0 {
		opt.DashboardTTL = 2 * time.Second
	}
	h := &handlers{srv: srv, svc: svc, users: users, b: svc.Bundle(), now: opt.Now}
	h.dash = &dashCache{ttl: opt.DashboardTTL}
	h.hans = bundleNames(h.b)
	sub, err := fs.Sub(templates, "templates")
	if err != nil {
		return err
	}
	en := template.FuncMap{"itemName": h.itemNameEn, "deptNames": h.deptNamesEn, "fen": fenTextEn, "fenWan": fenWanEn}
	if err := srv.AddTemplatesLang(sub, h.funcs(), en, "*.html"); err != nil {
		return err
	}
	for _, rt := range h.routes() {
		srv.Handle(rt)
	}
	return nil
}

type handlers struct {
	srv   *web.Server
	svc   *desk.Service
	users *auth.Store
	b     *policy.Bundle
	now   func() time.Time
	dash  *dashCache
	// chrome keeps the rendered layout of the busiest pages.
	chrome chromeCache
	// hans writes the bundle's item and material names, which refusals and
	// messages of the service quote as the bundle has them (Traditional),
	// in Simplified Chinese.
	hans *strings.Replacer
}

// bundleNames maps every item and material name of the bundle to its
// Simplified form: a fixed list, so that arbitrary text is never converted
// (and cached) as a whole.
func bundleNames(b *policy.Bundle) *strings.Replacer {
	var pairs []string
	add := func(s string) {
		if h := policy.Hans(s); h != s {
			pairs = append(pairs, s, h)
		}
	}
	for _, it := range b.Items {
		add(it.Name)
		for _, m := range it.Materials {
			add(m.Name)
		}
	}
	for _, p := range b.Pools {
		add(p.Name)
	}
	return strings.NewReplacer(pairs...)
}

// Who may call what: the same lists as web/deskapi's routes.
var (
	enterprise = []auth.Role{auth.RoleEnterprise}
	entAdmin   = []auth.Role{auth.RoleAdmin, auth.RoleEnterprise}
	factsRoles = []auth.Role{auth.RoleAdmin, auth.RoleEnterprise, auth.RoleReviewer}
	reviewers  = []auth.Role{auth.RoleReviewer, auth.RoleAdmin}
	experts    = []auth.Role{auth.RoleExpert}
	finance    = []auth.Role{auth.RoleFinance}
	financeAdm = []auth.Role{auth.RoleFinance, auth.RoleAdmin}
	admins     = []auth.Role{auth.RoleAdmin}
	// leaders see the dashboard: admins and finance (the platform has no
	// separate leadership role; a leader gets a finance or admin account).
	leaders = []auth.Role{auth.RoleAdmin, auth.RoleFinance}
)

type handler = func(http.ResponseWriter, *http.Request, auth.Principal) error

func (h *handlers) routes() []web.Route {
	const pg = "pages"
	r := func(method, pattern string, roles []auth.Role, summary string, fn handler) web.Route {
		return web.Route{Method: method, Pattern: pattern, Roles: roles, Tag: pg, Summary: summary, Handler: fn}
	}
	pub := func(method, pattern, summary string, fn handler) web.Route {
		return web.Route{Method: method, Pattern: pattern, Public: true, Tag: pg, Summary: summary, Handler: fn}
	}
	return []web.Route{
		r("GET", "/desk", web.SignedIn, "工作台：按角色进入", h.deskHome),
		r("GET", "/inbox", web.SignedIn, "站内消息", h.inbox),

		// Enterprise portal.
		r("GET", "/me/profile", enterprise, "单位信息与事实", h.myProfile),
		r("GET", "/me/benefits", enterprise, "我能获得什么：免申即享与测算", h.benefits),
		r("GET", "/me/applications", enterprise, "我的申请", h.myApplications),
		r("GET", "/me/applications/new", enterprise, "新建申请：按事项生成的表单", h.newApplication),
		r("POST", "/me/applications", enterprise, "新建申请（可同时上传材料、签署承诺并提交）", h.createApplication),
		r("GET", "/me/payments", enterprise, "拨付回执", h.myPayments),
		r("POST", "/offers/{id}/accept", enterprise, "确认免申即享", h.acceptOffer),
		r("POST", "/offers/{id}/decline", enterprise, "放弃免申即享", h.declineOffer),

		// Enterprises (the enterprise itself, and staff).
		r("GET", "/enterprises/{uscc}", web.SignedIn, "企业信息与事实", h.enterprisePage),
		r("POST", "/enterprises", entAdmin, "登记企业", h.registerEnterprise),
		r("POST", "/enterprises/{uscc}/bank-account", entAdmin, "登记银行账户", h.setBank),
		r("POST", "/enterprises/{uscc}/facts", factsRoles, "记录企业事实", h.setFacts),

		// One application, for everyone who may see it.
		r("GET", "/applications/{id}", web.SignedIn, "申请详情：事实、材料、计算过程、办理进度", h.application),
		r("GET", "/applications/{id}/letter", web.SignedIn, "决定书与拨付回执（可打印）", h.letter),
		r("POST", "/applications/{id}/facts", enterprise, "修改申请事实", h.updateFacts),
		r("POST", "/applications/{id}/materials", enterprise, "上传材料", h.upload),
		r("POST", "/applications/{id}/commitment", enterprise, "签署信用承诺", h.commit),
		r("POST", "/applications/{id}/submit", enterprise, "提交申请（补正后重新提交）", h.submit),
		r("POST", "/applications/{id}/withdraw", enterprise, "撤回申请", h.withdraw),
		r("POST", "/applications/{id}/accept", reviewers, "形式审查通过", h.reviewAction("accept")),
		r("POST", "/applications/{id}/return", reviewers, "退回补正", h.reviewAction("return")),
		r("POST", "/applications/{id}/reject", reviewers, "不予支持", h.reviewAction("reject")),
		r("POST", "/applications/{id}/opinion", reviewers, "部门意见并拟支持", h.reviewAction("opinion")),
		r("POST", "/applications/{id}/consolidate", reviewers, "汇总专家意见并拟支持", h.reviewAction("consolidate")),
		r("POST", "/applications/{id}/repropose", reviewers, "候补转拟支持", h.reviewAction("repropose")),
		r("POST", "/applications/{id}/panel", reviewers, "组建专家组", h.assignPanel),
		r("POST", "/applications/{id}/declaration", experts, "利益冲突声明", h.declare),
		r("POST", "/applications/{id}/score", experts, "专家评分", h.score),
		r("POST", "/applications/{id}/claw", financeAdm, "追回资金", h.claw),
		r("POST", "/objections/{id}/resolution", reviewers, "处理公示异议", h.resolve),

		// Workbenches.
		r("GET", "/review", reviewers, "审核工作台：队列、筛选、批量操作", h.reviewQueue),
		r("POST", "/review/bulk", reviewers, "批量操作：通过、退回、不予支持、拟支持、组建专家组、汇总、发布公示", h.bulk),
		r("GET", "/expert", experts, "评审任务", h.expertTasks),
		r("GET", "/finance", financeAdm, "拨付工作台：待拨付与批次", h.financeHome),
		r("POST", "/finance/batches", finance, "创建拨付批次", h.createBatch),
		r("GET", "/finance/batches/{id}", financeAdm, "拨付批次", h.batchPage),
		r("POST", "/finance/batches/{id}/approval", finance, "审批批次（双人复核）", h.approveBatch),
		r("POST", "/finance/batches/{id}/payments/{app}", finance, "登记拨付结果", h.recordPayment),
		r("GET", "/admin", admins, "管理：申报批次、资金池、按比例分配、免申即享名单", h.adminHome),
		r("POST", "/admin/rounds", admins, "开启申报批次", h.openRound),
		r("POST", "/admin/pools/fund", admins, "拨入年度预算", h.fundPools),
		r("POST", "/admin/prorata", admins, "按比例分配（计算或执行）", h.prorata),
		r("POST", "/admin/offers/import", admins, "导入免申即享名单", h.importOffers),
		r("GET", "/admin/users", admins, "用户管理", h.usersPage),
		r("POST", "/admin/users", admins, "新建用户", h.addUser),
		r("POST", "/admin/users/{id}/disable", admins, "停用用户", h.setDisabled(true)),
		r("POST", "/admin/users/{id}/enable", admins, "启用用户", h.setDisabled(false)),
		r("GET", "/admin/audit", admins, "审计日志", h.auditPage),

		// Public.
		pub("GET", "/publicity", "公示：正在公示与往期公示", h.publicityList),
		pub("GET", "/publicity/{id}", "公示名单（可打印、可导出）", h.publicityPage),
		pub("POST", "/publicity/{id}/objections", "提出异议（实名）", h.object),

		// Dashboard.
		r("GET", "/dashboard", leaders, "数据看板", h.dashboardPage),
		{Method: "GET", Pattern: "/api/v1/dashboard", Roles: leaders, Tag: "dashboard", Summary: "数据看板数据 dashboard figures (the charts' data)", Response: Dashboard{}, Handler: h.dashboardJSON},
		{Method: "GET", Pattern: "/api/v1/dashboard/xlsx", Roles: leaders, Tag: "dashboard", Summary: "数据看板导出 .xlsx (?chart=NAME: one chart; all charts otherwise)", Handler: h.dashboardXLSX},
	}
}

// actor is the service's view of the caller, as web/deskapi makes it.
func actor(r *http.Request, p auth.Principal) desk.Actor {
	if p.Anonymous() {
		return desk.Actor{ID: "public", Role: desk.RolePublic, RequestID: web.RequestID(r.Context())}
	}
	return desk.Actor{ID: p.UserID, Role: string(p.Role), Enterprise: p.Enterprise, Department: p.Department, RequestID: web.RequestID(r.Context())}
}

// deskHome sends each role to its workbench.
func (h *handlers) deskHome(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	to := "/account"
	switch p.Role {
	case auth.RoleEnterprise:
		to = "/me/applications"
	case auth.RoleReviewer:
		to = "/review"
	case auth.RoleExpert:
		to = "/expert"
	case auth.RoleFinance:
		to = "/finance"
	case auth.RoleAdmin:
		to = "/dashboard"
	case auth.RoleProvider:
		to = "/provider"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// flash is a one-time message shown on the page a form redirects to.
type flash struct {
	Kind string `json:"k"` // ok or error
	Text string `json:"t"`
}

const flashCookie = "pd_flash"

func setFlash(w http.ResponseWriter, kind, text string) {
	b, _ := json.Marshal(flash{Kind: kind, Text: text})
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/",
		MaxAge: 120, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// takeFlash reads the message and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	data, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(data, &f) != nil || f.Text == "" || (f.Kind != "ok" && f.Kind != "error") {
		return nil
	}
	return &f
}

// base is what every portal page has beside the layout's data.
type base struct {
	web.Page
	Flash *flash
}

func (h *handlers) base(w http.ResponseWriter, r *http.Request, p auth.Principal, title, nav string) base {
	return base{Page: h.srv.Page(r, p, title, nav), Flash: takeFlash(w, r)}
}

// framed is a page whose layout (header, workbench navigation, footer)
// comes rendered from the chrome cache: the busiest pages.
type framed struct {
	base
	Head, Foot template.HTML
}

func (h *handlers) framed(w http.ResponseWriter, r *http.Request, p auth.Principal, title, nav string) (framed, error) {
	b := h.base(w, r, p, title, nav)
	c, err := h.chrome.get(h.srv, b.Page)
	if err != nil {
		return framed{}, err
	}
	return framed{base: b, Head: c.head, Foot: c.foot}, nil
}

func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// done ends a form post: on success a message and a redirect; on a
// refusal of the service (invalid, conflict, forbidden…) the message of
// the refusal and a redirect to the same page, so the person reads why;
// an internal failure goes to the error page with its request id.
func (h *handlers) done(w http.ResponseWriter, r *http.Request, back, ok string, err error) error {
	if err != nil {
		body, _, shown := web.Describe(err)
		if !shown {
			return err
		}
		msg := h.hans.Replace(body.Message)
		if web.LangOf(r.Context()) == policy.English && body.MessageEn != "" {
			msg = body.MessageEn
		}
		setFlash(w, "error", msg)
		seeOther(w, r, back)
		return nil
	}
	if ok != "" {
		setFlash(w, "ok", h.srv.Tr(r, ok))
	}
	seeOther(w, r, back)
	return nil
}

// parseForm reads a urlencoded form of at most 256 KiB.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return apperr.New(apperr.TooLarge, "表单过大", "form too large")
		}
		return apperr.New(apperr.Invalid, "无法读取表单", "cannot read the form")
	}
	return cleanForm(r)
}

// cleanForm refuses a form whose fields hold NUL or invalid UTF-8.
func cleanForm(r *http.Request) error {
	if !web.CleanValues(r.PostForm) {
		return apperr.New(apperr.Invalid, "表单中含有无效字符(NUL 或非 UTF-8 编码),请检查后重新提交", "the form holds NUL or invalid UTF-8")
	}
	return nil
}

// maxMultipart bounds a form with files: a few materials of up to 20 MB.
const maxMultipart = 64<<20 + 256<<10

// parseMultipart reads a multipart form (or a plain one, when the browser
// sent no file).
func parseMultipart(w http.ResponseWriter, r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "multipart/form-data") {
		return parseForm(w, r)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxMultipart)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return apperr.New(apperr.TooLarge, "上传内容超过 64 MB 上限，请分次上传", "upload larger than 64 MB")
		}
		return apperr.New(apperr.Invalid, "无法读取上传的表单", "cannot read the form")
	}
	return cleanForm(r)
}

// safeBack keeps a "back" address on one of our pages under prefix.
func safeBack(v, prefix, fallback string) string {
	if v == "" || !strings.HasPrefix(v, prefix) || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n") {
		return fallback
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return fallback
	}
	return v
}

// today is the date in Beijing, within the policy's term.
func (h *handlers) today() policy.Date {
	d := policy.DateOf(h.now().In(beijing))
	switch {
	case d < h.b.InForce.From:
		return h.b.InForce.From
	case d > h.b.InForce.Until:
		return h.b.InForce.Until
	}
	return d
}

var beijing = time.FixedZone("CST", 8*3600)

func (h *handlers) funcs() template.FuncMap {
	return template.FuncMap{
		"fen":        fenText,
		"fenWan":     fenWan,
		"when":       when,
		"day":        day,
		"stateClass": stateClass,
		"itemName":   h.itemName,
		"has":        has,
		"roleLabel":  roleLabel,
		"isRole":     func(p auth.Principal, roles ...string) bool { return has(roles, string(p.Role)) },
		"sourceName": sourceName,
		"deptNames":  h.deptNames,
		"add":        func(a, b int) int { return a + b },
		"percent":    percent,
	}
}
