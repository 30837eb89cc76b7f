package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/compute"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/web"
)

// The pages of the compute platform (package compute, 算力券/模型券): the
// provider's workbench, the enterprise's vouchers, the admin's whitelist,
// vendor list and scenarios, finance's redemptions to pay, and the
// platform's statistics. Each route has the roles of the JSON API's route
// for the same action (web/computeapi); the service scopes the rows.

// RegisterCompute adds the compute platform's pages to srv. Call it after
// Register, which parses the templates (p-compute*, p-provider*,
// p-voucher*).
func RegisterCompute(srv *web.Server, svc *desk.Service, c *compute.Service, opt Options) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	h := &computePages{handlers: &handlers{srv: srv, svc: svc, b: svc.Bundle(), now: opt.Now, hans: bundleNames(svc.Bundle())}, c: c}
	for _, rt := range h.routes() {
		srv.Handle(rt)
	}
	h.registerDomestic(srv)
}

type computePages struct {
	*handlers
	c *compute.Service
}

var (
	providerRole = []auth.Role{auth.RoleProvider}
	statsRoles   = []auth.Role{auth.RoleAdmin, auth.RoleReviewer, auth.RoleFinance, auth.RoleProvider}
)

func (h *computePages) routes() []web.Route {
	const pg = "pages"
	r := func(method, pattern string, roles []auth.Role, summary string, fn handler) web.Route {
		return web.Route{Method: method, Pattern: pattern, Roles: roles, Tag: pg, Summary: summary, Handler: fn}
	}
	return []web.Route{
		// The provider (算力/模型服务商).
		r("GET", "/provider", providerRole, "服务商工作台：登记状态、关联方、挂牌资源", h.providerHome),
		r("POST", "/provider/registration", providerRole, "服务商登记", h.registerProvider),
		r("POST", "/provider/related-parties", providerRole, "申报关联方", h.relatedParties),
		r("POST", "/provider/listings", providerRole, "挂牌资源池", h.createListing),
		r("POST", "/provider/listings/{id}", providerRole, "修改挂牌资源", h.updateListing),
		r("POST", "/provider/listings/{id}/withdraw", providerRole, "下架资源", h.listingAction("withdraw")),
		r("POST", "/provider/listings/{id}/relist", providerRole, "重新挂牌", h.listingAction("relist")),
		r("GET", "/provider/customers", providerRole, "券客户：服务合同、券余额", h.providerCustomers),
		r("GET", "/provider/settlements", providerRole, "结算记录与结算文件上传", h.providerSettlements),
		r("POST", "/provider/settlements/import", providerRole, "上传计量结算文件（CSV/JSONL），逐行错误报告", h.importSettlements),
		r("POST", "/provider/settlements/{id}/correct", providerRole, "更正有异议的结算记录", h.correctRecord),
		r("POST", "/provider/settlements/{id}/withdraw", providerRole, "撤回结算记录", h.withdrawRecord),
		r("GET", "/provider/redemptions", providerRole, "客户兑付状态", h.providerRedemptions),

		// The enterprise (券的持有人).
		r("GET", "/me/vouchers", enterprise, "算力券/模型券：券余额、服务合同与申领", h.myVouchers),
		r("POST", "/me/vouchers/contracts", enterprise, "登记服务合同（白名单服务商）", h.createContract),
		r("GET", "/me/vouchers/contracts/{id}", enterprise, "合同：结算记录确认、兑付", h.myContract),
		r("POST", "/me/vouchers/contracts/{id}/claims", enterprise, "申领算力券/模型券", h.claim),
		r("POST", "/me/vouchers/contracts/{id}/confirm", enterprise, "确认结算记录（可批量）", h.answer(true)),
		r("POST", "/me/vouchers/contracts/{id}/dispute", enterprise, "对结算记录提出异议", h.answer(false)),
		r("POST", "/me/vouchers/contracts/{id}/redeem", enterprise, "兑付已确认的结算记录", h.redeem("/me/vouchers/contracts/")),
		r("POST", "/me/vouchers/contracts/{id}/end", enterprise, "提前终止合同", h.endContract("/me/vouchers/contracts/")),
		r("GET", "/me/vouchers/redemptions", enterprise, "兑付记录", h.myRedemptions),

		// The admin.
		r("GET", "/admin/compute", admins, "算力平台管理：服务商白名单、芯片厂商、应用场景、合同", h.adminCompute),
		r("POST", "/admin/compute/providers", admins, "代为登记服务商", h.adminRegister),
		r("POST", "/admin/compute/providers/{id}/approve", admins, "纳入白名单", h.decide(true)),
		r("POST", "/admin/compute/providers/{id}/suspend", admins, "暂停服务商", h.decide(false)),
		r("POST", "/admin/compute/vendors", admins, "登记芯片厂商", h.putVendor),
		r("POST", "/admin/compute/scenarios", admins, "登记应用场景", h.putScenario),
		r("POST", "/admin/compute/vouchers/close", admins, "关闭到期券并释放额度", h.closeVouchers),
		r("POST", "/admin/compute/contracts/{id}/redeem", admins, "代为兑付合同的已确认结算记录", h.redeem("/admin/compute#c-")),
		r("POST", "/admin/compute/contracts/{id}/end", admins, "提前终止合同", h.endContract("/admin/compute#c-")),

		// Finance and everyone who reads the figures.
		r("GET", "/finance/vouchers", financeAdm, "券兑付待拨付：纳入拨付批次（双人复核）", h.financeVouchers),
		r("GET", "/compute/stats", statsRoles, "算力平台统计：挂牌算力、国产占比、利用率、券支出", h.stats),
	}
}

// computeBase is what every compute page has: the portal's base and the
// names of the platform's states and kinds, which templates call as
// methods ({{$.Class .State}}).
type computeBase struct {
	base
	Error *web.ErrorBody
	Form  url.Values
}

// Class is the badge colour of a compute state.
func (computeBase) Class(state string) string {
	switch state {
	case compute.ProviderApproved, compute.Listed, compute.ClaimActive, compute.RecordConfirmed, compute.RecordRedeemed, compute.RedemptionPaid:
		return "st-ok"
	case compute.ProviderSuspended, compute.ClaimRefused, compute.RecordDisputed, compute.RedemptionFailed:
		return "st-no"
	case compute.ProviderPending, compute.RecordSubmitted, compute.RedemptionPayable, compute.ClaimApplied:
		return "st-warn"
	case compute.Withdrawn, compute.ClaimClosed, compute.ContractEnded:
		return "st-draft"
	}
	return "st-run"
}

// Kind names a provider or contract kind.
func (computeBase) Kind(k string) string {
	switch k {
	case compute.KindCompute:
		return "算力"
	case compute.KindModel:
		return "模型"
	}
	return k
}

// Voucher names a voucher item.
func (computeBase) Voucher(item string) string {
	switch item {
	case compute.ItemComputeVoucher:
		return "算力券（第一条）"
	case compute.ItemModelVoucher:
		return "模型券（第八条）"
	}
	return item
}

// Redemption names a redemption's state, with its batch.
func (computeBase) Redemption(r *compute.Redemption) string {
	switch r.State {
	case compute.RedemptionPending:
		return "账本处理中"
	case compute.RedemptionPayable:
		if r.BatchID != "" {
			return "已纳入拨付批次，待拨付"
		}
		return "待财政纳入拨付批次"
	case compute.RedemptionPaid:
		return "已拨付"
	case compute.RedemptionFailed:
		return "账本拒绝，待管理员处理"
	}
	return r.State
}

// RecordState names a settlement record's state.
func (computeBase) RecordState(s string) string {
	return map[string]string{compute.RecordSubmitted: "待确认", compute.RecordConfirmed: "已确认", compute.RecordDisputed: "有异议", compute.RecordWithdrawn: "已撤回",
		compute.RecordRedeeming: "兑付中", compute.RecordRedeemed: "已兑付"}[s]
}

// ContractState names a contract's state.
func (computeBase) ContractState(s string) string {
	if s == compute.ContractActive {
		return "履行中"
	}
	return "已终止"
}

// Deployment names a model contract's deployment.
func (computeBase) Deployment(d string) string {
	return map[string]string{"private": "私有化部署", "cloud": "云上部署", "api": "API 调用", "appliance_software": "一体机软件"}[d]
}

func (h *computePages) cbase(w http.ResponseWriter, r *http.Request, p auth.Principal, title string) computeBase {
	return computeBase{base: h.base(w, r, p, title, "desk")}
}

// refusal turns a service refusal into what the page shows and its
// status; an internal failure is returned for the error page.
func refusal(err error) (*web.ErrorBody, int, error) {
	body, status, shown := web.Describe(err)
	if !shown {
		return nil, 0, err
	}
	return &body, status, nil
}

// intField reads a whole number of a form.
func intField(f url.Values, name, label string) (int, error) {
	v := strings.TrimSpace(f.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, apperr.New(apperr.Invalid, label+"应为非负整数", name+" must be a non-negative integer").WithField(name)
	}
	return n, nil
}

// yuanField reads an amount in yuan of a form; empty is 0.
func yuanField(f url.Values, name string) (money.Amount, error) {
	v := strings.TrimSpace(f.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := parseYuan(v, name)
	return money.Amount(n), err
}

// recordIDs reads the ticked record ids.
func recordIDs(f url.Values) ([]int64, error) {
	var ids []int64
	for _, v := range f["ids"] {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || id <= 0 {
			return nil, apperr.New(apperr.Invalid, "结算记录编号无效", "a record id is invalid").WithField("ids")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func pathBack(prefix, id string) string { return prefix + url.PathEscape(id) }

// ---- the provider ----

type providerPage struct {
	computeBase
	Provider *compute.Provider
	Listings []*compute.Listing
	Vendors  []compute.Vendor
	Related  string // the declared related parties, one per line, for the form
}

func (h *computePages) providerData(w http.ResponseWriter, r *http.Request, p auth.Principal) (*providerPage, error) {
	ctx, a := r.Context(), actor(r, p)
	pg := &providerPage{computeBase: h.cbase(w, r, p, "服务商工作台")}
	pv, err := h.c.GetProvider(ctx, a, p.Enterprise)
	switch {
	case err == nil:
		pg.Provider = pv
		var lines []string
		for _, rp := range pv.Related {
			lines = append(lines, rp.USCC+","+rp.Name+","+rp.Relation)
		}
		pg.Related = strings.Join(lines, "\n")
		if pg.Listings, err = h.c.Listings(ctx, a, compute.ListingFilter{Provider: pv.ID}); err != nil {
			return nil, err
		}
	case apperr.Is(err, apperr.NotFound):
	default:
		return nil, err
	}
	if pg.Vendors, err = h.c.Vendors(ctx); err != nil {
		return nil, err
	}
	return pg, nil
}

func (h *computePages) providerHome(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg, err := h.providerData(w, r, p)
	if err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-provider", pg)
}

// providerAgain shows the provider's page with a refusal and the form as
// it was posted.
func (h *computePages) providerAgain(w http.ResponseWriter, r *http.Request, p auth.Principal, err error) error {
	body, status, ierr := refusal(err)
	if ierr != nil {
		return ierr
	}
	pg, derr := h.providerData(w, r, p)
	if derr != nil {
		return derr
	}
	pg.Error, pg.Form = body, r.PostForm
	return h.srv.Render(w, r, status, "p-provider", pg)
}

func (h *computePages) registerProvider(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	_, err := h.c.RegisterProvider(r.Context(), actor(r, p), compute.ProviderInput{USCC: p.Enterprise, Name: f.Get("name"), Kinds: f["kinds"], Contact: f.Get("contact")})
	if err != nil {
		return h.providerAgain(w, r, p, err)
	}
	return h.done(w, r, "/provider", "已提交服务商登记，待管理员审核纳入白名单", nil)
}

// parseRelated reads "统一社会信用代码,名称,关系" lines.
func parseRelated(text string) ([]compute.RelatedParty, error) {
	var out []compute.RelatedParty
	for i, line := range strings.Split(strings.ReplaceAll(text, "，", ","), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ",", 3)
		rp := compute.RelatedParty{USCC: strings.TrimSpace(parts[0])}
		if len(parts) > 1 {
			rp.Name = strings.TrimSpace(parts[1])
		}
		if len(parts) > 2 {
			rp.Relation = strings.TrimSpace(parts[2])
		}
		if rp.USCC == "" {
			return nil, apperr.Newf(apperr.Invalid, "第 %d 行缺少统一社会信用代码", "line %d has no credit code", i+1).WithField("related")
		}
		out = append(out, rp)
	}
	return out, nil
}

func (h *computePages) relatedParties(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	err := func() error {
		parties, err := parseRelated(r.PostForm.Get("related"))
		if err != nil {
			return err
		}
		pv, err := h.c.GetProvider(r.Context(), actor(r, p), p.Enterprise)
		if err != nil {
			return err
		}
		_, err = h.c.DeclareRelatedParties(r.Context(), actor(r, p), pv.ID, parties)
		return err
	}()
	if err != nil {
		return h.providerAgain(w, r, p, err)
	}
	return h.done(w, r, "/provider", "已更新申报的关联方：与关联方的合同不予支持", nil)
}

func listingInput(f url.Values) (compute.ListingInput, error) {
	in := compute.ListingInput{ChipModel: f.Get("chip_model"), Vendor: f.Get("vendor"), Location: f.Get("location"), InZone: f.Get("in_zone") == "yes"}
	var err error
	if in.Cards, err = intField(f, "cards", "卡数"); err != nil {
		return in, err
	}
	if in.Servers, err = intField(f, "servers", "服务器台数"); err != nil {
		return in, err
	}
	in.Price, err = yuanField(f, "price")
	return in, err
}

func (h *computePages) createListing(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in, err := listingInput(r.PostForm)
	if err == nil {
		var l *compute.Listing
		if l, err = h.c.CreateListing(r.Context(), actor(r, p), "", in); err == nil {
			dom := "非国产芯片"
			if l.Domestic {
				dom = "国产芯片"
			}
			return h.done(w, r, "/provider", fmt.Sprintf("已挂牌：%s %s（%s）%d 卡", l.Vendor, l.ChipModel, dom, l.Cards), nil)
		}
	}
	return h.providerAgain(w, r, p, err)
}

func (h *computePages) updateListing(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in, err := listingInput(r.PostForm)
	if err == nil {
		_, err = h.c.UpdateListing(r.Context(), actor(r, p), r.PathValue("id"), in)
	}
	return h.done(w, r, "/provider", "已修改挂牌资源", err)
}

func (h *computePages) listingAction(what string) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		var err error
		msg := "已下架，自今日起不再计入挂牌时长"
		if what == "relist" {
			_, err = h.c.RelistListing(r.Context(), actor(r, p), r.PathValue("id"))
			msg = "已重新挂牌，挂牌时长自今日重新计算"
		} else {
			_, err = h.c.WithdrawListing(r.Context(), actor(r, p), r.PathValue("id"))
		}
		return h.done(w, r, "/provider", msg, err)
	}
}

type customersPage struct {
	computeBase
	Contracts []*compute.Contract
	Vouchers  map[string][]*compute.Voucher // by contract
}

func (h *computePages) providerCustomers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx, a := r.Context(), actor(r, p)
	cs, err := h.c.Contracts(ctx, a, compute.ContractFilter{Limit: 1000})
	if err != nil {
		return err
	}
	vs, err := h.c.Vouchers(ctx, a, compute.VoucherFilter{})
	if err != nil {
		return err
	}
	pg := customersPage{computeBase: h.cbase(w, r, p, "券客户"), Contracts: cs, Vouchers: map[string][]*compute.Voucher{}}
	for _, v := range vs {
		pg.Vouchers[v.ContractID] = append(pg.Vouchers[v.ContractID], v)
	}
	return h.srv.Render(w, r, http.StatusOK, "p-provider-customers", pg)
}

type settlementsPage struct {
	computeBase
	Contracts []*compute.Contract
	Records   []*compute.Record
	Numbers   map[string]string // contract id → number
	Contract  string
	State     string
	States    []opt
	Offset    int
	Next      int
	More      bool
	Result    *compute.ImportResult
	Shown     []compute.RowError // the first errors of the result
}

const recordsPerPage = 200

func (h *computePages) settlementsData(w http.ResponseWriter, r *http.Request, p auth.Principal) (*settlementsPage, error) {
	ctx, a := r.Context(), actor(r, p)
	q := r.URL.Query()
	pg := &settlementsPage{computeBase: h.cbase(w, r, p, "结算记录"), Contract: q.Get("contract"), State: q.Get("state"), Numbers: map[string]string{}}
	if n, err := strconv.Atoi(q.Get("offset")); err == nil && n > 0 {
		pg.Offset = n
	}
	var err error
	if pg.Contracts, err = h.c.Contracts(ctx, a, compute.ContractFilter{Limit: 1000}); err != nil {
		return nil, err
	}
	for _, c := range pg.Contracts {
		pg.Numbers[c.ID] = c.Number
	}
	for _, st := range []struct{ v, l string }{{"", "全部"}, {compute.RecordSubmitted, "待企业确认"}, {compute.RecordDisputed, "有异议"}, {compute.RecordConfirmed, "已确认"},
		{compute.RecordRedeemed, "已兑付"}, {compute.RecordWithdrawn, "已撤回"}} {
		pg.States = append(pg.States, opt{Value: st.v, Label: st.l, Selected: st.v == pg.State})
	}
	rs, err := h.c.Records(ctx, a, compute.RecordFilter{Contract: pg.Contract, State: pg.State, Limit: recordsPerPage + 1, Offset: pg.Offset})
	if err != nil {
		if _, _, ierr := refusal(err); ierr != nil {
			return nil, ierr
		}
		rs = nil // a filter the service refuses shows nothing
	}
	if len(rs) > recordsPerPage {
		rs, pg.More = rs[:recordsPerPage], true
	}
	pg.Records, pg.Next = rs, pg.Offset+recordsPerPage
	return pg, nil
}

func (h *computePages) providerSettlements(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg, err := h.settlementsData(w, r, p)
	if err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-provider-settlements", pg)
}

// maxShownErrors bounds the error rows a page lists; the count says how
// many there are in all.
const maxShownErrors = 1000

// importSettlements imports a metering export and shows the summary and
// the line-level report on the page.
func (h *computePages) importSettlements(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var res *compute.ImportResult
	err := func() error {
		if err := parseMultipart(w, r); err != nil {
			return err
		}
		if r.MultipartForm == nil || len(r.MultipartForm.File["file"]) == 0 {
			return apperr.New(apperr.Invalid, "请选择结算文件（.csv 或 .jsonl）", "choose a file").WithField("file")
		}
		defer r.MultipartForm.RemoveAll()
		fh := r.MultipartForm.File["file"][0]
		f, err := fh.Open()
		if err != nil {
			return err
		}
		defer f.Close()
		format := strings.ToLower(r.FormValue("format"))
		if format != "" && format != "csv" && format != "jsonl" {
			return apperr.New(apperr.Invalid, "文件格式应为 csv 或 jsonl", "format must be csv or jsonl").WithField("format")
		}
		res, err = h.c.ImportRecords(r.Context(), actor(r, p), f, compute.ImportOptions{Filename: fh.Filename, Format: format, Strict: r.FormValue("strict") == "yes"})
		return err
	}()
	status := http.StatusOK
	var body *web.ErrorBody
	if err != nil {
		var ierr error
		if body, status, ierr = refusal(err); ierr != nil {
			return ierr
		}
	}
	pg, derr := h.settlementsData(w, r, p)
	if derr != nil {
		return derr
	}
	pg.Error = body
	if res != nil {
		pg.Result = res
		pg.Shown = res.Errors[:min(len(res.Errors), maxShownErrors)]
		if !res.Committed {
			status = http.StatusUnprocessableEntity
		}
	}
	return h.srv.Render(w, r, status, "p-provider-settlements", pg)
}

func (h *computePages) correctRecord(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	back := "/provider/settlements?state=disputed"
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return h.done(w, r, back, "", apperr.New(apperr.Invalid, "结算记录编号无效", "invalid record id"))
	}
	f := r.PostForm
	in := compute.RecordInput{PeriodStart: f.Get("period_start"), PeriodEnd: f.Get("period_end"), CardHours: strings.TrimSpace(f.Get("card_hours")), DeliveryRef: f.Get("delivery_ref")}
	calls, err := intField(f, "api_calls", "调用次数")
	if err == nil {
		in.APICalls = int64(calls)
		in.Amount, err = yuanField(f, "amount")
	}
	if err == nil {
		_, err = h.c.CorrectRecord(r.Context(), actor(r, p), id, in)
	}
	return h.done(w, r, back, "已更正，待企业重新确认", err)
}

func (h *computePages) withdrawRecord(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	back := "/provider/settlements"
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return h.done(w, r, back, "", apperr.New(apperr.Invalid, "结算记录编号无效", "invalid record id"))
	}
	err = h.c.WithdrawRecord(r.Context(), actor(r, p), id, r.PostForm.Get("reason"))
	return h.done(w, r, back, "已撤回结算记录（发票号码不可再用）", err)
}

type redemptionsPage struct {
	computeBase
	Redemptions []*compute.Redemption
	Contracts   map[string]*compute.Contract
	Total       money.Amount
	Paid        money.Amount
}

func (h *computePages) redemptionsData(w http.ResponseWriter, r *http.Request, p auth.Principal, title string) (*redemptionsPage, error) {
	ctx, a := r.Context(), actor(r, p)
	rs, err := h.c.Redemptions(ctx, a, compute.RedemptionFilter{Limit: 1000})
	if err != nil {
		return nil, err
	}
	cs, err := h.c.Contracts(ctx, a, compute.ContractFilter{Limit: 1000})
	if err != nil {
		return nil, err
	}
	pg := &redemptionsPage{computeBase: h.cbase(w, r, p, title), Redemptions: rs, Contracts: map[string]*compute.Contract{}}
	for _, c := range cs {
		pg.Contracts[c.ID] = c
	}
	for _, x := range rs {
		pg.Total += x.Amount
		if x.State == compute.RedemptionPaid {
			pg.Paid += x.Amount
		}
	}
	return pg, nil
}

func (h *computePages) providerRedemptions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg, err := h.redemptionsData(w, r, p, "客户兑付状态")
	if err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-provider-redemptions", pg)
}

// ---- the enterprise ----

type vouchersPage struct {
	computeBase
	Vouchers  []*compute.Voucher
	Contracts []*compute.Contract
	Providers []*compute.Provider
	Scenarios []compute.Scenario
	Listings  []*compute.Listing
	Quota     money.Amount
	Remaining money.Amount
}

func (h *computePages) vouchersData(w http.ResponseWriter, r *http.Request, p auth.Principal) (*vouchersPage, error) {
	ctx, a := r.Context(), actor(r, p)
	pg := &vouchersPage{computeBase: h.cbase(w, r, p, "算力券/模型券")}
	var err error
	if pg.Vouchers, err = h.c.Vouchers(ctx, a, compute.VoucherFilter{}); err != nil {
		return nil, err
	}
	for _, v := range pg.Vouchers {
		if v.State == compute.ClaimActive {
			pg.Quota += v.Quota
			pg.Remaining += v.Remaining
		}
	}
	if pg.Contracts, err = h.c.Contracts(ctx, a, compute.ContractFilter{Limit: 1000}); err != nil {
		return nil, err
	}
	if pg.Providers, err = h.c.Providers(ctx, a, ""); err != nil {
		return nil, err
	}
	if pg.Scenarios, err = h.c.Scenarios(ctx); err != nil {
		return nil, err
	}
	if pg.Listings, err = h.c.Listings(ctx, a, compute.ListingFilter{State: compute.Listed}); err != nil {
		return nil, err
	}
	return pg, nil
}

func (h *computePages) myVouchers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg, err := h.vouchersData(w, r, p)
	if err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-vouchers", pg)
}

func (h *computePages) createContract(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	in := compute.ContractInput{Provider: f.Get("provider"), Kind: f.Get("kind"), Number: f.Get("number"), Title: f.Get("title"), Starts: f.Get("starts"),
		Ends: f.Get("ends"), SignedOn: f.Get("signed_on"), ListingID: f.Get("listing_id")}
	if in.Kind == compute.KindModel {
		in.Deployment, in.Scenario = f.Get("deployment"), f.Get("scenario")
	}
	var err error
	if in.Amount, err = yuanField(f, "amount"); err == nil {
		var c *compute.Contract
		if c, err = h.c.CreateContract(r.Context(), actor(r, p), in); err == nil {
			return h.done(w, r, pathBack("/me/vouchers/contracts/", c.ID), "已登记合同「"+c.Number+"」，可以申领"+h.Kind(c.Kind)+"券", nil)
		}
	}
	body, status, ierr := refusal(err)
	if ierr != nil {
		return ierr
	}
	pg, derr := h.vouchersData(w, r, p)
	if derr != nil {
		return derr
	}
	pg.Error, pg.Form = body, f
	return h.srv.Render(w, r, status, "p-vouchers", pg)
}

// Kind for handlers (the same names the pages show).
func (h *computePages) Kind(k string) string { return computeBase{}.Kind(k) }

type contractPage struct {
	computeBase
	Contract    *compute.Contract
	Summary     []compute.RecordSummary
	Vouchers    []*compute.Voucher
	Records     []*compute.Record
	Submitted   int
	Redemptions []*compute.Redemption
	Contracts   map[string]*compute.Contract // this one, for the redemption table
	More        bool
	State       string
	States      []opt
}

func (h *computePages) myContract(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx, a := r.Context(), actor(r, p)
	c, err := h.c.GetContract(ctx, a, r.PathValue("id"))
	if err != nil {
		return err
	}
	state := r.URL.Query().Get("state")
	if state == "" {
		state = compute.RecordSubmitted
	}
	pg := contractPage{computeBase: h.cbase(w, r, p, "合同 "+c.Number), Contract: c, State: state, Contracts: map[string]*compute.Contract{c.ID: c}}
	if pg.Summary, err = h.c.Summary(ctx, a, c.ID); err != nil {
		return err
	}
	for _, s := range pg.Summary {
		if s.State == compute.RecordSubmitted {
			pg.Submitted = s.Count
		}
	}
	for _, st := range []struct{ v, l string }{{compute.RecordSubmitted, "待确认"}, {compute.RecordDisputed, "有异议"}, {compute.RecordConfirmed, "已确认待兑付"},
		{compute.RecordRedeemed, "已兑付"}, {compute.RecordWithdrawn, "已撤回"}} {
		pg.States = append(pg.States, opt{Value: st.v, Label: st.l, Selected: st.v == state})
	}
	if pg.Vouchers, err = h.c.Vouchers(ctx, a, compute.VoucherFilter{Contract: c.ID}); err != nil {
		return err
	}
	rs, err := h.c.Records(ctx, a, compute.RecordFilter{Contract: c.ID, State: state, Limit: 501})
	if err != nil {
		return err
	}
	if len(rs) > 500 {
		rs, pg.More = rs[:500], true
	}
	pg.Records = rs
	if pg.Redemptions, err = h.c.Redemptions(ctx, a, compute.RedemptionFilter{Contract: c.ID}); err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-voucher-contract", pg)
}

func (h *computePages) claim(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	back := pathBack("/me/vouchers/contracts/", id)
	base, err := yuanField(r.PostForm, "base")
	if err != nil {
		return h.done(w, r, back, "", err)
	}
	cl, err := h.c.ClaimVoucher(r.Context(), actor(r, p), id, base)
	if err != nil {
		return h.done(w, r, back, "", err)
	}
	return h.done(w, r, "/applications/"+url.PathEscape(cl.ApplicationID), "已申领（申领金额 "+fenText(cl.Base)+"）：请上传材料、签署信用承诺并提交申请", nil)
}

func (h *computePages) answer(confirm bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		id := r.PathValue("id")
		back := pathBack("/me/vouchers/contracts/", id)
		ids, err := recordIDs(r.PostForm)
		if err != nil {
			return h.done(w, r, back, "", err)
		}
		all := r.PostForm.Get("all") == "yes"
		if len(ids) == 0 && !all {
			return h.done(w, r, back, "", apperr.New(apperr.Invalid, "请勾选结算记录，或选择“全部待确认记录”", "tick records or choose all").WithField("ids"))
		}
		if all {
			ids = nil
		}
		var n int
		if confirm {
			n, err = h.c.ConfirmRecords(r.Context(), actor(r, p), id, ids)
			return h.done(w, r, back, fmt.Sprintf("已确认 %d 条结算记录，可以申请兑付", n), err)
		}
		n, err = h.c.DisputeRecords(r.Context(), actor(r, p), id, ids, r.PostForm.Get("reason"))
		return h.done(w, r, back, fmt.Sprintf("已对 %d 条结算记录提出异议，待服务商更正或撤回", n), err)
	}
}

// redeem redeems a contract's confirmed records; back is where the page
// goes (the contract's id is appended).
func (h *computePages) redeem(back string) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		id := r.PathValue("id")
		red, err := h.c.Redeem(r.Context(), actor(r, p), id)
		if err != nil {
			return h.done(w, r, pathBack(back, id), "", err)
		}
		return h.done(w, r, pathBack(back, id), fmt.Sprintf("已兑付 %d 条结算记录：结算金额 %s，按 %s 计 %s，实际兑付 %s，待财政拨付", red.Records, fenText(red.Base), red.Rate, fenText(red.Due), fenText(red.Amount)), nil)
	}
}

func (h *computePages) endContract(back string) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		id := r.PathValue("id")
		_, err := h.c.EndContract(r.Context(), actor(r, p), id, r.PostForm.Get("reason"))
		return h.done(w, r, pathBack(back, id), "合同已终止：其券今日到期，未使用额度将释放", err)
	}
}

func (h *computePages) myRedemptions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg, err := h.redemptionsData(w, r, p, "兑付记录")
	if err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-voucher-redemptions", pg)
}

// ---- the admin ----

type adminComputePage struct {
	computeBase
	Providers []*compute.Provider
	Vendors   []compute.Vendor
	Scenarios []compute.Scenario
	Contracts []*compute.Contract
	State     string
	States    []opt
}

func (h *computePages) adminCompute(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx, a := r.Context(), actor(r, p)
	state := r.URL.Query().Get("state")
	pg := adminComputePage{computeBase: h.cbase(w, r, p, "算力平台管理"), State: state}
	for _, st := range []struct{ v, l string }{{"", "全部"}, {compute.ProviderPending, "待审核"}, {compute.ProviderApproved, "已入白名单"}, {compute.ProviderSuspended, "已暂停"}} {
		pg.States = append(pg.States, opt{Value: st.v, Label: st.l, Selected: st.v == state})
	}
	var err error
	if pg.Providers, err = h.c.Providers(ctx, a, state); err != nil {
		return err
	}
	if pg.Vendors, err = h.c.Vendors(ctx); err != nil {
		return err
	}
	if pg.Scenarios, err = h.c.Scenarios(ctx); err != nil {
		return err
	}
	if pg.Contracts, err = h.c.Contracts(ctx, a, compute.ContractFilter{Limit: 200}); err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-compute-admin", pg)
}

func (h *computePages) adminRegister(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	pv, err := h.c.RegisterProvider(r.Context(), actor(r, p), compute.ProviderInput{USCC: strings.TrimSpace(f.Get("uscc")), Name: f.Get("name"), Kinds: f["kinds"], Contact: f.Get("contact")})
	if err != nil {
		return h.done(w, r, "/admin/compute", "", err)
	}
	return h.done(w, r, "/admin/compute?state=pending", "已登记服务商「"+pv.Name+"」，待审核", nil)
}

func (h *computePages) decide(approve bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		id := r.PathValue("id")
		if approve {
			pv, err := h.c.ApproveProvider(r.Context(), actor(r, p), id, r.PostForm.Get("note"))
			if err != nil {
				return h.done(w, r, "/admin/compute", "", err)
			}
			return h.done(w, r, "/admin/compute", "「"+pv.Name+"」已纳入白名单", nil)
		}
		pv, err := h.c.SuspendProvider(r.Context(), actor(r, p), id, r.PostForm.Get("reason"))
		if err != nil {
			return h.done(w, r, "/admin/compute", "", err)
		}
		return h.done(w, r, "/admin/compute", "「"+pv.Name+"」已暂停：不能挂牌、报送结算，新合同和申领不能选择它", nil)
	}
}

func (h *computePages) putVendor(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	v := compute.Vendor{Name: f.Get("name"), Domestic: f.Get("domestic") == "yes", Note: f.Get("note")}
	for _, a := range strings.FieldsFunc(f.Get("aliases"), func(r rune) bool { return r == ',' || r == '，' || r == '、' || r == '\n' }) {
		if a = strings.TrimSpace(a); a != "" {
			v.Aliases = append(v.Aliases, a)
		}
	}
	err := h.c.PutVendor(r.Context(), actor(r, p), v)
	return h.done(w, r, "/admin/compute#vendors", "已登记芯片厂商「"+strings.TrimSpace(v.Name)+"」", err)
}

func (h *computePages) putScenario(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	sc := compute.Scenario{Code: f.Get("code"), Name: f.Get("name"), Kind: f.Get("kind"), Active: f.Get("active") == "yes"}
	err := h.c.PutScenario(r.Context(), actor(r, p), sc)
	return h.done(w, r, "/admin/compute#scenarios", "已登记应用场景「"+strings.TrimSpace(sc.Name)+"」", err)
}

func (h *computePages) closeVouchers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, released, err := h.c.CloseVouchers(r.Context())
	return h.done(w, r, "/admin/compute", fmt.Sprintf("已关闭 %d 张到期券，释放额度 %s", n, fenText(released)), err)
}

// ---- finance ----

type financeVouchersPage struct {
	computeBase
	Redemptions []*compute.Redemption
	Contracts   map[string]*compute.Contract
	Total       money.Amount
	CanCreate   bool
}

// financeVouchers lists the payable redemptions in no batch yet; ticking
// them posts to the payment batches' form, beside awards.
func (h *computePages) financeVouchers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx, a := r.Context(), actor(r, p)
	rs, err := h.c.Redemptions(ctx, a, compute.RedemptionFilter{ToPay: true, Limit: 1000})
	if err != nil {
		return err
	}
	pg := financeVouchersPage{computeBase: h.cbase(w, r, p, "券兑付待拨付"), Redemptions: rs, Contracts: map[string]*compute.Contract{}, CanCreate: p.Role == auth.RoleFinance}
	for _, x := range rs {
		pg.Total += x.Amount
		if pg.Contracts[x.ContractID] == nil {
			if c, err := h.c.GetContract(ctx, a, x.ContractID); err == nil {
				pg.Contracts[c.ID] = c
			}
		}
	}
	return h.srv.Render(w, r, http.StatusOK, "p-compute-finance", pg)
}

// ---- statistics ----

type statsPage struct {
	computeBase
	Stats *compute.Stats
	From  string
	To    string
}

func (h *computePages) stats(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	pg := statsPage{computeBase: h.cbase(w, r, p, "算力平台统计"), From: q.Get("from"), To: q.Get("to")}
	st, err := h.c.Stats(r.Context(), actor(r, p), pg.From, pg.To)
	status := http.StatusOK
	if err != nil {
		var ierr error
		if pg.Error, status, ierr = refusal(err); ierr != nil {
			return ierr
		}
		if st, err = h.c.Stats(r.Context(), actor(r, p), "", ""); err != nil {
			return err
		}
	}
	pg.Stats = st
	return h.srv.Render(w, r, status, "p-compute-stats", pg)
}
