// Package computeapi is the JSON API of the compute scheduling platform
// (package compute) under /api/v1/compute: providers and the whitelist,
// the vendor list and scenarios, listings, contracts, voucher claims and
// balances, settlement records (file import with a line-level report, API
// submission, bilateral confirmation), redemption, 第二条 verification and
// the statistics. Each route declares the roles the service itself
// accepts (web.Route.Roles); the service then scopes rows to the caller,
// so authorization happens twice, as in package deskapi.
package computeapi

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/compute"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/web"
)

// Register adds the platform's routes to srv.
func Register(srv *web.Server, c *compute.Service) {
	h := &handlers{c: c}
	for _, rt := range h.routes() {
		srv.Handle(rt)
	}
}

type handlers struct{ c *compute.Service }

var (
	admins     = []auth.Role{auth.RoleAdmin}
	providers  = []auth.Role{auth.RoleProvider}
	enterprise = []auth.Role{auth.RoleEnterprise}
	provAdm    = []auth.Role{auth.RoleProvider, auth.RoleAdmin}
	entAdm     = []auth.Role{auth.RoleEnterprise, auth.RoleAdmin}
	// parties are those the service scopes contracts, vouchers, records
	// and redemptions to: the enterprise, the provider and the zone's staff.
	parties = []auth.Role{auth.RoleEnterprise, auth.RoleProvider, auth.RoleReviewer, auth.RoleFinance, auth.RoleAdmin}
	// statsRoles are the zone's staff (everything) and providers (their own).
	statsRoles = []auth.Role{auth.RoleAdmin, auth.RoleReviewer, auth.RoleFinance, auth.RoleProvider}
)

// actor is the service's view of the caller.
func actor(r *http.Request, p auth.Principal) desk.Actor {
	if p.Anonymous() {
		return desk.Actor{ID: "public", Role: desk.RolePublic, RequestID: web.RequestID(r.Context())}
	}
	return desk.Actor{ID: p.UserID, Role: string(p.Role), Enterprise: p.Enterprise, Department: p.Department, RequestID: web.RequestID(r.Context())}
}

// Request and response bodies (also the OpenAPI schemas).
type (
	// NoteRequest carries an optional note (approving a provider).
	NoteRequest struct {
		Note string `json:"note,omitempty"`
	}
	// ReasonRequest carries the reason of a suspension, an early end or a
	// withdrawal.
	ReasonRequest struct {
		Reason string `json:"reason"`
	}
	// RelatedPartiesRequest replaces a provider's declared related parties.
	RelatedPartiesRequest struct {
		RelatedParties []compute.RelatedParty `json:"related_parties"`
	}
	// ListingRequest lists a resource pool; the admin names the provider
	// (id or 统一社会信用代码), a provider lists its own.
	ListingRequest struct {
		ProviderID string `json:"provider_id,omitempty"`
		compute.ListingInput
	}
	// ClaimRequest claims a voucher on a contract; base 0 claims as much as
	// allowed.
	ClaimRequest struct {
		Base money.Amount `json:"base"`
	}
	// SubmitRecordsRequest submits settlement records as JSON (at most
	// 100,000; import a file for more).
	SubmitRecordsRequest struct {
		Records []compute.RecordInput `json:"records"`
		Strict  bool                  `json:"strict,omitempty"`
	}
	// ConfirmRequest confirms records of a contract: ids, or every
	// submitted record when empty.
	ConfirmRequest struct {
		IDs []int64 `json:"ids,omitempty"`
	}
	// DisputeRequest disputes records of a contract.
	DisputeRequest struct {
		IDs    []int64 `json:"ids,omitempty"`
		Reason string  `json:"reason"`
	}
	// CountResponse says how many records an action changed.
	CountResponse struct {
		Count int `json:"count"`
	}
	// VerifyRequest verifies a 第二条 purchase; the zone's staff name the
	// provider (id or 统一社会信用代码), a provider or enterprise user its own.
	VerifyRequest struct {
		Provider string `json:"provider,omitempty"`
		compute.PurchaseInput
	}
	// CloseResponse is the outcome of closing expired vouchers.
	CloseResponse struct {
		Closed   int          `json:"closed"`
		Released money.Amount `json:"released"`
	}
	// OK is the answer of actions that return nothing else.
	OK struct {
		OK bool `json:"ok"`
	}
)

func ok(w http.ResponseWriter) error { return web.WriteJSON(w, http.StatusOK, OK{OK: true}) }

const base = "/api/v1/compute"

func (h *handlers) routes() []web.Route {
	const tPrv, tCat, tCon, tSet, tRed, tDom, tAdm = "compute-providers", "compute-catalogue", "compute-contracts", "compute-settlements", "compute-redemption", "compute-article2", "compute-admin"
	return []web.Route{
		{Method: "POST", Pattern: base + "/providers", Roles: provAdm, Tag: tPrv, Summary: "服务商登记 register a provider (pending the admin's approval)", Request: compute.ProviderInput{}, Response: compute.Provider{}, Handler: h.registerProvider},
		{Method: "GET", Pattern: base + "/providers", Public: true, Tag: tPrv, Summary: "服务商白名单 the whitelist (?state= for the zone's staff)", Response: []compute.Provider{}, Handler: h.providers},
		{Method: "GET", Pattern: base + "/providers/{id}", Public: true, Tag: tPrv, Summary: "服务商 a provider (id or credit code; related parties for staff and itself)", Response: compute.Provider{}, Handler: h.getProvider},
		{Method: "POST", Pattern: base + "/providers/{id}/approve", Roles: admins, Tag: tAdm, Summary: "纳入白名单 approve a provider", Request: NoteRequest{}, Response: compute.Provider{}, Handler: h.approveProvider},
		{Method: "POST", Pattern: base + "/providers/{id}/suspend", Roles: admins, Tag: tAdm, Summary: "暂停服务商 take a provider off the whitelist", Request: ReasonRequest{}, Response: compute.Provider{}, Handler: h.suspendProvider},
		{Method: "PUT", Pattern: base + "/providers/{id}/related-parties", Roles: provAdm, Tag: tPrv, Summary: "申报关联方 declare related parties", Request: RelatedPartiesRequest{}, Response: compute.Provider{}, Handler: h.relatedParties},

		{Method: "GET", Pattern: base + "/vendors", Public: true, Tag: tCat, Summary: "芯片厂商名录 the vendor list (which chips are domestic)", Response: []compute.Vendor{}, Handler: h.vendors},
		{Method: "PUT", Pattern: base + "/vendors/{name}", Roles: admins, Tag: tAdm, Summary: "登记芯片厂商 add or change a vendor", Request: compute.Vendor{}, Response: OK{}, Handler: h.putVendor},
		{Method: "GET", Pattern: base + "/scenarios", Public: true, Tag: tCat, Summary: "应用场景 the scenarios model vouchers may serve", Response: []compute.Scenario{}, Handler: h.scenarios},
		{Method: "PUT", Pattern: base + "/scenarios/{code}", Roles: admins, Tag: tAdm, Summary: "登记应用场景 add or change a scenario", Request: compute.Scenario{}, Response: OK{}, Handler: h.putScenario},

		{Method: "GET", Pattern: base + "/listings", Public: true, Tag: tCat, Summary: "平台挂牌算力 the platform's listed capacity (?provider=&state=&vendor=&domestic=)", Response: []compute.Listing{}, Handler: h.listings},
		{Method: "POST", Pattern: base + "/listings", Roles: provAdm, Tag: tCat, Summary: "挂牌资源 list a resource pool", Request: ListingRequest{}, Response: compute.Listing{}, Handler: h.createListing},
		{Method: "PUT", Pattern: base + "/listings/{id}", Roles: provAdm, Tag: tCat, Summary: "修改挂牌 change a listing", Request: compute.ListingInput{}, Response: compute.Listing{}, Handler: h.updateListing},
		{Method: "POST", Pattern: base + "/listings/{id}/withdraw", Roles: provAdm, Tag: tCat, Summary: "下架 withdraw a listing from today", Response: compute.Listing{}, Handler: h.listingAction((*compute.Service).WithdrawListing)},
		{Method: "POST", Pattern: base + "/listings/{id}/relist", Roles: provAdm, Tag: tCat, Summary: "重新挂牌 list a withdrawn listing again from today", Response: compute.Listing{}, Handler: h.listingAction((*compute.Service).RelistListing)},

		{Method: "POST", Pattern: base + "/contracts", Roles: enterprise, Tag: tCon, Summary: "登记服务合同 register a contract with a whitelisted provider", Request: compute.ContractInput{}, Response: compute.Contract{}, Handler: h.createContract},
		{Method: "GET", Pattern: base + "/contracts", Roles: parties, Tag: tCon, Summary: "合同列表 contracts (?kind=&state=&uscc=&provider=&limit=&offset=)", Response: []compute.Contract{}, Handler: h.contracts},
		{Method: "GET", Pattern: base + "/contracts/{id}", Roles: parties, Tag: tCon, Summary: "合同 a contract", Response: compute.Contract{}, Handler: h.getContract},
		{Method: "POST", Pattern: base + "/contracts/{id}/end", Roles: entAdm, Tag: tCon, Summary: "提前终止合同 end a contract early (its vouchers expire today)", Request: ReasonRequest{}, Response: compute.Contract{}, Handler: h.endContract},
		{Method: "POST", Pattern: base + "/contracts/{id}/claims", Roles: enterprise, Tag: tCon, Summary: "申领算力券/模型券 claim a voucher (starts a workflow application)", Request: ClaimRequest{}, Response: compute.Claim{}, Handler: h.claim},
		{Method: "GET", Pattern: base + "/contracts/{id}/settlements/summary", Roles: parties, Tag: tSet, Summary: "结算汇总 a contract's records by state", Response: []compute.RecordSummary{}, Handler: h.summary},
		{Method: "POST", Pattern: base + "/contracts/{id}/settlements/confirm", Roles: enterprise, Tag: tSet, Summary: "确认结算记录 confirm records (ids, or all submitted)", Request: ConfirmRequest{}, Response: CountResponse{}, Handler: h.confirm},
		{Method: "POST", Pattern: base + "/contracts/{id}/settlements/dispute", Roles: enterprise, Tag: tSet, Summary: "对结算记录提出异议 dispute records", Request: DisputeRequest{}, Response: CountResponse{}, Handler: h.dispute},
		{Method: "POST", Pattern: base + "/contracts/{id}/redemptions", Roles: entAdm, Tag: tRed, Summary: "兑付 redeem the confirmed records of a contract", Response: compute.Redemption{}, Handler: h.redeem},

		{Method: "GET", Pattern: base + "/vouchers", Roles: parties, Tag: tCon, Summary: "券余额 vouchers: quota, used, remaining, expiry (?contract=&state=&uscc=)", Response: []compute.Voucher{}, Handler: h.vouchers},
		{Method: "POST", Pattern: base + "/vouchers/close", Roles: admins, Tag: tAdm, Summary: "关闭到期券 close expired vouchers now and release what they hold (the scheduler does it every minute)", Response: CloseResponse{}, Handler: h.closeVouchers},

		{Method: "POST", Pattern: base + "/settlements/import", Roles: providers, Tag: tSet, Summary: "导入计量结算文件 import a metering export (multipart: file .csv/.jsonl ≤ 64 MB, format, strict); line-level error report", Response: compute.ImportResult{}, Handler: h.importRecords},
		{Method: "POST", Pattern: base + "/settlements", Roles: providers, Tag: tSet, Summary: "提交结算记录 submit records as JSON (≤ 100,000)", Request: SubmitRecordsRequest{}, Response: compute.ImportResult{}, Handler: h.submitRecords},
		{Method: "GET", Pattern: base + "/settlements", Roles: parties, Tag: tSet, Summary: "结算记录 records (?contract=&state=&import=&limit=&offset=)", Response: []compute.Record{}, Handler: h.records},
		{Method: "PUT", Pattern: base + "/settlements/{id}", Roles: providers, Tag: tSet, Summary: "更正结算记录 correct a disputed record", Request: compute.RecordInput{}, Response: compute.Record{}, Handler: h.correct},
		{Method: "POST", Pattern: base + "/settlements/{id}/withdraw", Roles: providers, Tag: tSet, Summary: "撤回结算记录 withdraw a record not yet confirmed", Request: ReasonRequest{}, Response: OK{}, Handler: h.withdrawRecord},

		{Method: "GET", Pattern: base + "/redemptions", Roles: parties, Tag: tRed, Summary: "兑付记录 redemptions (?contract=&state=&limit=&offset=)", Response: []compute.Redemption{}, Handler: h.redemptions},
		{Method: "GET", Pattern: base + "/redemptions/{id}", Roles: parties, Tag: tRed, Summary: "兑付 a redemption (finance pays it through /api/v1/batches, four eyes)", Response: compute.Redemption{}, Handler: h.getRedemption},

		{Method: "POST", Pattern: base + "/domestic/verify", Roles: parties, Tag: tDom, Summary: "第二条核验 verify a purchase of domestic servers against the listings", Request: VerifyRequest{}, Response: compute.Purchase{}, Handler: h.verify},
		{Method: "POST", Pattern: base + "/domestic/applications", Roles: enterprise, Tag: tDom, Summary: "第二条申报 apply for the domestic-server subsidy", Request: compute.PurchaseInput{}, Response: compute.Purchase{}, Handler: h.applyDomestic},

		{Method: "GET", Pattern: base + "/stats", Roles: statsRoles, Tag: tAdm, Summary: "平台统计 statistics (?from=&to=; a provider sees its own)", Response: compute.Stats{}, Handler: h.stats},
	}
}

func queryInt(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, apperr.Newf(apperr.Invalid, "参数 %s 应为非负整数", "%s must be a non-negative integer", name).WithField(name)
	}
	return n, nil
}

func page(r *http.Request) (limit, offset int, err error) {
	if limit, err = queryInt(r, "limit"); err != nil {
		return 0, 0, err
	}
	offset, err = queryInt(r, "offset")
	return limit, offset, err
}

func pathInt(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.Newf(apperr.Invalid, "%s 应为正整数", "%s must be a positive integer", name).WithField(name)
	}
	return n, nil
}

// optional decodes a JSON body when one is sent.
func optional(r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	return web.DecodeJSON(r, v)
}

func (h *handlers) registerProvider(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req compute.ProviderInput
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	pr, err := h.c.RegisterProvider(r.Context(), actor(r, p), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, pr)
}

func (h *handlers) providers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ps, err := h.c.Providers(r.Context(), actor(r, p), r.URL.Query().Get("state"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ps))
}

func (h *handlers) getProvider(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pr, err := h.c.GetProvider(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, pr)
}

func (h *handlers) approveProvider(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req NoteRequest
	if err := optional(r, &req); err != nil {
		return err
	}
	pr, err := h.c.ApproveProvider(r.Context(), actor(r, p), r.PathValue("id"), req.Note)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, pr)
}

func (h *handlers) suspendProvider(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ReasonRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	pr, err := h.c.SuspendProvider(r.Context(), actor(r, p), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, pr)
}

func (h *handlers) relatedParties(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req RelatedPartiesRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	pr, err := h.c.DeclareRelatedParties(r.Context(), actor(r, p), r.PathValue("id"), req.RelatedParties)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, pr)
}

func (h *handlers) vendors(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	vs, err := h.c.Vendors(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(vs))
}

func (h *handlers) putVendor(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var v compute.Vendor
	if err := web.DecodeJSON(r, &v); err != nil {
		return err
	}
	v.Name = r.PathValue("name")
	if err := h.c.PutVendor(r.Context(), actor(r, p), v); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) scenarios(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ss, err := h.c.Scenarios(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ss))
}

func (h *handlers) putScenario(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var sc compute.Scenario
	if err := web.DecodeJSON(r, &sc); err != nil {
		return err
	}
	sc.Code = r.PathValue("code")
	if err := h.c.PutScenario(r.Context(), actor(r, p), sc); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) listings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := compute.ListingFilter{Provider: q.Get("provider"), State: q.Get("state"), Vendor: q.Get("vendor")}
	if v := q.Get("domestic"); v != "" {
		d, err := strconv.ParseBool(v)
		if err != nil {
			return apperr.New(apperr.Invalid, "参数 domestic 应为 true 或 false", "domestic must be true or false").WithField("domestic")
		}
		f.Domestic = &d
	}
	ls, err := h.c.Listings(r.Context(), actor(r, p), f)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ls))
}

func (h *handlers) createListing(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ListingRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	l, err := h.c.CreateListing(r.Context(), actor(r, p), req.ProviderID, req.ListingInput)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, l)
}

func (h *handlers) updateListing(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req compute.ListingInput
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	l, err := h.c.UpdateListing(r.Context(), actor(r, p), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, l)
}

func (h *handlers) listingAction(fn func(*compute.Service, context.Context, desk.Actor, string) (*compute.Listing, error)) func(http.ResponseWriter, *http.Request, auth.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		l, err := fn(h.c, r.Context(), actor(r, p), r.PathValue("id"))
		if err != nil {
			return err
		}
		return web.WriteJSON(w, http.StatusOK, l)
	}
}

func (h *handlers) createContract(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req compute.ContractInput
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	c, err := h.c.CreateContract(r.Context(), actor(r, p), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, c)
}

func (h *handlers) contracts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, offset, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	cs, err := h.c.Contracts(r.Context(), actor(r, p), compute.ContractFilter{Kind: q.Get("kind"), State: q.Get("state"), USCC: q.Get("uscc"), Provider: q.Get("provider"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(cs))
}

func (h *handlers) getContract(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := h.c.GetContract(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, c)
}

func (h *handlers) endContract(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ReasonRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	c, err := h.c.EndContract(r.Context(), actor(r, p), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, c)
}

func (h *handlers) claim(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ClaimRequest
	if err := optional(r, &req); err != nil {
		return err
	}
	cl, err := h.c.ClaimVoucher(r.Context(), actor(r, p), r.PathValue("id"), req.Base)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, cl)
}

func (h *handlers) summary(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	s, err := h.c.Summary(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(s))
}

func (h *handlers) confirm(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ConfirmRequest
	if err := optional(r, &req); err != nil {
		return err
	}
	n, err := h.c.ConfirmRecords(r.Context(), actor(r, p), r.PathValue("id"), req.IDs)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, CountResponse{Count: n})
}

func (h *handlers) dispute(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req DisputeRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	n, err := h.c.DisputeRecords(r.Context(), actor(r, p), r.PathValue("id"), req.IDs, req.Reason)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, CountResponse{Count: n})
}

func (h *handlers) redeem(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	red, err := h.c.Redeem(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, red)
}

func (h *handlers) vouchers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	vs, err := h.c.Vouchers(r.Context(), actor(r, p), compute.VoucherFilter{Contract: q.Get("contract"), State: q.Get("state"), USCC: q.Get("uscc")})
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(vs))
}

func (h *handlers) closeVouchers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	n, released, err := h.c.CloseVouchers(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, CloseResponse{Closed: n, Released: released})
}

// MaxImport bounds a settlement file: 64 MiB, and the form around it.
const MaxImport = 64<<20 + 64<<10

func (h *handlers) importRecords(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return apperr.New(apperr.UnsupportedMedia, "请以 multipart/form-data 上传结算文件", "upload as multipart/form-data")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxImport)
	// Up to 8 MiB in memory, the rest spooled to a temporary file: either
	// way the part can be read twice, so a re-import is answered first.
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.New(apperr.TooLarge, "结算文件超过 64 MB 上限,请分批导入", "file larger than 64 MB; split it")
		}
		return apperr.New(apperr.Invalid, "无法读取上传的表单", "cannot read the form").WithField("file")
	}
	defer r.MultipartForm.RemoveAll()
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return apperr.New(apperr.Invalid, "请选择要上传的结算文件", "choose a file").WithField("file")
	}
	defer f.Close()
	strict := false
	if v := r.FormValue("strict"); v != "" {
		if strict, err = strconv.ParseBool(v); err != nil {
			return apperr.New(apperr.Invalid, "参数 strict 应为 true 或 false", "strict must be true or false").WithField("strict")
		}
	}
	res, err := h.c.ImportRecords(r.Context(), actor(r, p), f, compute.ImportOptions{Filename: hdr.Filename, Format: strings.ToLower(r.FormValue("format")), Strict: strict})
	if err != nil {
		return err
	}
	return writeImport(w, res)
}

// writeImport answers 201 when rows were stored, 200 for a replay and 422
// when nothing was stored; the body is the line-level report in each case.
func writeImport(w http.ResponseWriter, res *compute.ImportResult) error {
	if res.Errors == nil {
		res.Errors = []compute.RowError{}
	}
	status := http.StatusCreated
	switch {
	case res.Replayed:
		status = http.StatusOK
	case !res.Committed:
		status = http.StatusUnprocessableEntity
	}
	return web.WriteJSON(w, status, res)
}

// maxSubmit bounds a JSON submission of 100,000 records.
const maxSubmit = 48 << 20

func (h *handlers) submitRecords(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req SubmitRecordsRequest
	if err := web.DecodeJSONLimit(r, &req, maxSubmit); err != nil {
		return err
	}
	res, err := h.c.SubmitRecords(r.Context(), actor(r, p), req.Records, compute.ImportOptions{Strict: req.Strict})
	if err != nil {
		return err
	}
	return writeImport(w, res)
}

func (h *handlers) records(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, offset, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rs, err := h.c.Records(r.Context(), actor(r, p), compute.RecordFilter{Contract: q.Get("contract"), State: q.Get("state"), Import: q.Get("import"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(rs))
}

func (h *handlers) correct(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	var req compute.RecordInput
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	rec, err := h.c.CorrectRecord(r.Context(), actor(r, p), id, req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, rec)
}

func (h *handlers) withdrawRecord(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	var req ReasonRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := h.c.WithdrawRecord(r.Context(), actor(r, p), id, req.Reason); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) redemptions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, offset, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rs, err := h.c.Redemptions(r.Context(), actor(r, p), compute.RedemptionFilter{Contract: q.Get("contract"), State: q.Get("state"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(rs))
}

func (h *handlers) getRedemption(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	red, err := h.c.GetRedemption(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, red)
}

func (h *handlers) verify(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req VerifyRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	pu, err := h.c.VerifyPurchase(r.Context(), actor(r, p), req.Provider, req.PurchaseInput)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, pu)
}

func (h *handlers) applyDomestic(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req compute.PurchaseInput
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	pu, err := h.c.ApplyDomesticServers(r.Context(), actor(r, p), req)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, pu)
}

func (h *handlers) stats(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	st, err := h.c.Stats(r.Context(), actor(r, p), q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, st)
}

// nonNil makes empty lists [] rather than null in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
