// Package deskapi is the JSON API of the workflow under /api/v1: it maps
// HTTP to package desk's service methods. Each route declares who may call
// it (web.Route.Roles); the service then scopes rows to the caller (an
// enterprise sees its own, a reviewer its department's), so authorization
// happens twice, as DESIGN.md asks.
package deskapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/audit"
	"policydesk/auth"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/web"
)

// Register adds the workflow's routes to srv.
func Register(srv *web.Server, s *desk.Service) {
	h := &handlers{s: s}
	for _, rt := range h.routes() {
		srv.Handle(rt)
	}
}

type handlers struct{ s *desk.Service }

var (
	enterprise = []auth.Role{auth.RoleEnterprise}
	reviewers  = []auth.Role{auth.RoleReviewer, auth.RoleAdmin}
	experts    = []auth.Role{auth.RoleExpert}
	finance    = []auth.Role{auth.RoleFinance}
	financeAdm = []auth.Role{auth.RoleFinance, auth.RoleAdmin}
	admins     = []auth.Role{auth.RoleAdmin}
	staff      = []auth.Role{auth.RoleAdmin, auth.RoleFinance, auth.RoleReviewer}
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
	// EnterpriseRequest registers an enterprise.
	EnterpriseRequest struct {
		USCC string `json:"uscc"`
		Name string `json:"name"`
	}
	// BankAccountRequest sets the account for payments.
	BankAccountRequest struct {
		BankName    string `json:"bank_name"`
		BankAccount string `json:"bank_account"`
	}
	// FactsRequest records dated facts about an enterprise.
	FactsRequest struct {
		Facts  map[string]json.RawMessage `json:"facts"`
		Source string                     `json:"source"`
		AsOf   string                     `json:"as_of,omitempty"`
	}
	// RoundRequest opens a round.
	RoundRequest struct {
		Name   string   `json:"name"`
		Items  []string `json:"items"`
		Opens  string   `json:"opens"`
		Closes string   `json:"closes"`
	}
	// ApplicationRequest starts a draft.
	ApplicationRequest struct {
		Item  string                     `json:"item"`
		Facts map[string]json.RawMessage `json:"facts"`
	}
	// ApplicationFactsRequest replaces a draft's facts.
	ApplicationFactsRequest struct {
		Facts map[string]json.RawMessage `json:"facts"`
	}
	// MessageRequest carries a reviewer's or applicant's message.
	MessageRequest struct {
		Message string `json:"message"`
	}
	// PanelRequest forms a panel: named experts, or n drawn.
	PanelRequest struct {
		Experts []string `json:"experts,omitempty"`
		N       int      `json:"n,omitempty"`
		Chair   string   `json:"chair,omitempty"`
	}
	// DeclarationRequest is an expert's conflict-of-interest declaration.
	DeclarationRequest struct {
		Conflict bool   `json:"conflict"`
		Note     string `json:"note,omitempty"`
	}
	// ScoreRequest is an expert's scores and proposed amount.
	ScoreRequest struct {
		Scores  map[string]int `json:"scores"`
		Amount  money.Amount   `json:"amount"`
		Comment string         `json:"comment,omitempty"`
	}
	// PublishRequest puts proposed applications on 公示.
	PublishRequest struct {
		Title string   `json:"title"`
		IDs   []string `json:"ids"`
	}
	// ObjectionRequest is a named objection.
	ObjectionRequest struct {
		Name    string `json:"name"`
		Contact string `json:"contact"`
		Text    string `json:"text"`
	}
	// ResolutionRequest decides an objection.
	ResolutionRequest struct {
		Upheld     bool   `json:"upheld"`
		Resolution string `json:"resolution"`
	}
	// BatchRequest creates a payment batch.
	BatchRequest struct {
		IDs []string `json:"ids"`
	}
	// ApprovalRequest approves a batch against its control totals.
	ApprovalRequest struct {
		Count int          `json:"count"`
		Total money.Amount `json:"total"`
	}
	// PaymentRequest records the bank's answer for one payment.
	PaymentRequest struct {
		Paid    bool   `json:"paid"`
		BankRef string `json:"bank_ref"`
	}
	// ClawRequest recovers a paid amount.
	ClawRequest struct {
		Amount money.Amount `json:"amount"`
		Reason string       `json:"reason"`
	}
	// ProRataRequest computes or applies a pro-rata round.
	ProRataRequest struct {
		RoundID string `json:"round_id"`
		Pool    string `json:"pool"`
		Year    int    `json:"year"`
		Apply   bool   `json:"apply"`
	}
	// OK is the answer of actions that return nothing else.
	OK struct {
		OK bool `json:"ok"`
	}
)

func ok(w http.ResponseWriter) error { return web.WriteJSON(w, http.StatusOK, OK{OK: true}) }

func (h *handlers) routes() []web.Route {
	const tApp, tEnt, tRev, tPub, tPay, tAdm = "applications", "enterprises", "review", "publicity", "payments", "admin"
	return []web.Route{
		{Method: "POST", Pattern: "/api/v1/enterprises", Roles: []auth.Role{auth.RoleAdmin, auth.RoleEnterprise}, Tag: tEnt, Summary: "登记企业 register an enterprise", Request: EnterpriseRequest{}, Response: desk.Enterprise{}, Handler: h.registerEnterprise},
		{Method: "GET", Pattern: "/api/v1/enterprises/{uscc}", Roles: web.SignedIn, Tag: tEnt, Summary: "企业信息 an enterprise (bank account in full for finance only)", Response: desk.Enterprise{}, Handler: h.getEnterprise},
		{Method: "PUT", Pattern: "/api/v1/enterprises/{uscc}/bank-account", Roles: []auth.Role{auth.RoleAdmin, auth.RoleEnterprise}, Tag: tEnt, Summary: "登记银行账户 set the bank account", Request: BankAccountRequest{}, Response: OK{}, Handler: h.setBank},
		{Method: "POST", Pattern: "/api/v1/enterprises/{uscc}/facts", Roles: []auth.Role{auth.RoleAdmin, auth.RoleEnterprise, auth.RoleReviewer}, Tag: tEnt, Summary: "记录企业事实 record dated facts", Request: FactsRequest{}, Response: OK{}, Handler: h.setFacts},
		{Method: "GET", Pattern: "/api/v1/enterprises/{uscc}/facts", Roles: web.SignedIn, Tag: tEnt, Summary: "企业事实 facts in force on ?date=", Response: []desk.Fact{}, Handler: h.getFacts},

		{Method: "GET", Pattern: "/api/v1/rounds", Public: true, Tag: tApp, Summary: "申报批次 application rounds", Response: []desk.Round{}, Handler: h.rounds},
		{Method: "POST", Pattern: "/api/v1/rounds", Roles: admins, Tag: tAdm, Summary: "开启申报批次 open a round", Request: RoundRequest{}, Response: desk.Round{}, Handler: h.openRound},

		{Method: "POST", Pattern: "/api/v1/applications", Roles: enterprise, Tag: tApp, Summary: "新建申请草稿 start a draft", Request: ApplicationRequest{}, Response: desk.Application{}, Handler: h.createApp},
		{Method: "GET", Pattern: "/api/v1/applications", Roles: web.SignedIn, Tag: tApp, Summary: "申请列表 applications the caller may see (?state=&item=&uscc=&limit=&offset=)", Response: []desk.Application{}, Handler: h.listApps},
		{Method: "GET", Pattern: "/api/v1/applications/{id}", Roles: web.SignedIn, Tag: tApp, Summary: "申请详情 an application with its frozen evaluation", Response: desk.Application{}, Handler: h.getApp},
		{Method: "PUT", Pattern: "/api/v1/applications/{id}/facts", Roles: enterprise, Tag: tApp, Summary: "修改申请事实 replace a draft's facts", Request: ApplicationFactsRequest{}, Response: desk.Application{}, Handler: h.updateFacts},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/materials", Roles: enterprise, Tag: tApp, Summary: "上传材料 upload a material (multipart: kind, file; ≤ 20 MB; PDF/PNG/JPEG/DOCX/XLSX/OFD)", Response: desk.Material{}, Handler: h.upload},
		{Method: "GET", Pattern: "/api/v1/applications/{id}/materials", Roles: web.SignedIn, Tag: tApp, Summary: "材料列表 materials", Response: []desk.Material{}, Handler: h.materials},
		{Method: "GET", Pattern: "/api/v1/applications/{id}/materials/{mid}", Roles: web.SignedIn, Tag: tApp, Summary: "下载材料 download a material", Handler: h.material},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/commitment", Roles: enterprise, Tag: tApp, Summary: "签署信用承诺 sign the credit commitment", Response: OK{}, Handler: h.commit},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/submit", Roles: enterprise, Tag: tApp, Summary: "提交申请 submit (Idempotency-Key header honoured)", Response: desk.Application{}, Handler: h.submit},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/withdraw", Roles: enterprise, Tag: tApp, Summary: "撤回申请 withdraw", Request: MessageRequest{}, Response: desk.Application{}, Handler: h.withdraw},
		{Method: "GET", Pattern: "/api/v1/applications/{id}/timeline", Roles: web.SignedIn, Tag: tApp, Summary: "办理进度 status timeline", Response: []desk.Event{}, Handler: h.timeline},

		{Method: "POST", Pattern: "/api/v1/applications/{id}/accept", Roles: reviewers, Tag: tRev, Summary: "形式审查通过 accept", Request: MessageRequest{}, Response: desk.Application{}, Handler: h.message((*desk.Service).Accept)},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/return", Roles: reviewers, Tag: tRev, Summary: "退回补正 return for correction", Request: MessageRequest{}, Response: desk.Application{}, Handler: h.message((*desk.Service).Return)},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/reject", Roles: reviewers, Tag: tRev, Summary: "不予支持 reject", Request: MessageRequest{}, Response: desk.Application{}, Handler: h.message((*desk.Service).Reject)},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/opinion", Roles: reviewers, Tag: tRev, Summary: "部门意见并拟支持 department opinion (items without expert review are proposed)", Request: MessageRequest{}, Response: desk.Application{}, Handler: h.message((*desk.Service).Opinion)},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/panel", Roles: reviewers, Tag: tRev, Summary: "组建专家组 assign a panel", Request: PanelRequest{}, Response: desk.Application{}, Handler: h.assignPanel},
		{Method: "GET", Pattern: "/api/v1/applications/{id}/panel", Roles: reviewers, Tag: tRev, Summary: "专家组 the panel", Response: []desk.PanelMember{}, Handler: h.panel},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/declaration", Roles: experts, Tag: tRev, Summary: "利益冲突声明 conflict-of-interest declaration", Request: DeclarationRequest{}, Response: OK{}, Handler: h.declare},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/score", Roles: experts, Tag: tRev, Summary: "专家评分 score and propose an amount", Request: ScoreRequest{}, Response: OK{}, Handler: h.score},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/consolidate", Roles: reviewers, Tag: tRev, Summary: "汇总专家意见并拟支持 consolidate the panel and propose", Request: MessageRequest{}, Response: desk.Application{}, Handler: h.message((*desk.Service).Consolidate)},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/repropose", Roles: reviewers, Tag: tRev, Summary: "候补转拟支持 try a waitlisted application again", Response: desk.Application{}, Handler: h.repropose},
		{Method: "GET", Pattern: "/api/v1/applications/{id}/objections", Roles: reviewers, Tag: tPub, Summary: "公示异议 objections to an application", Response: []desk.Objection{}, Handler: h.objections},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/objections", Public: true, Tag: tPub, Summary: "提出异议(实名) lodge a named objection during 公示", Request: ObjectionRequest{}, Response: desk.Objection{}, Handler: h.object},
		{Method: "POST", Pattern: "/api/v1/applications/{id}/claw", Roles: financeAdm, Tag: tPay, Summary: "追回资金 claw back", Request: ClawRequest{}, Response: desk.Application{}, Handler: h.claw},

		{Method: "GET", Pattern: "/api/v1/publicity", Public: true, Tag: tPub, Summary: "公示列表 公示 batches", Response: []desk.Publicity{}, Handler: h.publicities},
		{Method: "GET", Pattern: "/api/v1/publicity/{id}", Public: true, Tag: tPub, Summary: "公示名单 a 公示 list", Response: desk.Publicity{}, Handler: h.publicity},
		{Method: "GET", Pattern: "/api/v1/publicity/{id}/xlsx", Public: true, Tag: tPub, Summary: "公示名单导出 .xlsx", Handler: h.publicityXLSX},
		{Method: "POST", Pattern: "/api/v1/publicity", Roles: reviewers, Tag: tPub, Summary: "发布公示 publish proposed awards", Request: PublishRequest{}, Response: desk.Publicity{}, Handler: h.publish},
		{Method: "POST", Pattern: "/api/v1/objections/{id}/resolution", Roles: reviewers, Tag: tPub, Summary: "处理异议 resolve an objection", Request: ResolutionRequest{}, Response: desk.Application{}, Handler: h.resolve},

		{Method: "POST", Pattern: "/api/v1/batches", Roles: finance, Tag: tPay, Summary: "创建拨付批次 create a payment batch", Request: BatchRequest{}, Response: desk.Batch{}, Handler: h.createBatch},
		{Method: "GET", Pattern: "/api/v1/batches/{id}", Roles: financeAdm, Tag: tPay, Summary: "拨付批次 a batch", Response: desk.Batch{}, Handler: h.getBatch},
		{Method: "POST", Pattern: "/api/v1/batches/{id}/approval", Roles: finance, Tag: tPay, Summary: "审批批次(双人复核)approve (four eyes, control totals)", Request: ApprovalRequest{}, Response: desk.Batch{}, Handler: h.approveBatch},
		{Method: "POST", Pattern: "/api/v1/batches/{id}/payments/{app}", Roles: finance, Tag: tPay, Summary: "登记拨付结果 record a payment", Request: PaymentRequest{}, Response: desk.Application{}, Handler: h.recordPayment},
		{Method: "GET", Pattern: "/api/v1/batches/{id}/xlsx", Roles: financeAdm, Tag: tPay, Summary: "拨付批次导出 .xlsx", Handler: h.batchXLSX},

		{Method: "POST", Pattern: "/api/v1/offers/import", Roles: admins, Tag: tAdm, Summary: "导入免申即享名单 import a qualification list (multipart: item, source, file .csv/.xlsx)", Response: desk.ImportReport{}, Handler: h.importOffers},
		{Method: "GET", Pattern: "/api/v1/offers", Roles: []auth.Role{auth.RoleEnterprise, auth.RoleAdmin}, Tag: tApp, Summary: "免申即享 offers (?state=)", Response: []desk.Offer{}, Handler: h.offers},
		{Method: "POST", Pattern: "/api/v1/offers/{id}/accept", Roles: enterprise, Tag: tApp, Summary: "确认免申即享 accept an offer", Response: desk.Application{}, Handler: h.acceptOffer},
		{Method: "POST", Pattern: "/api/v1/offers/{id}/decline", Roles: enterprise, Tag: tApp, Summary: "放弃免申即享 decline an offer", Response: OK{}, Handler: h.declineOffer},

		{Method: "POST", Pattern: "/api/v1/pools/fund", Roles: admins, Tag: tAdm, Summary: "拨入年度预算 fund the annual pools", Response: []desk.PoolYear{}, Handler: h.fundPools},
		{Method: "POST", Pattern: "/api/v1/pools/prorata", Roles: admins, Tag: tAdm, Summary: "按比例分配 pro-rata round (apply=false computes only)", Request: ProRataRequest{}, Response: desk.ProRata{}, Handler: h.prorata},
		{Method: "GET", Pattern: "/api/v1/inbox", Roles: web.SignedIn, Tag: tApp, Summary: "站内消息 the caller's inbox", Response: []desk.Message{}, Handler: h.inbox},
		{Method: "GET", Pattern: "/api/v1/audit", Roles: admins, Tag: tAdm, Summary: "审计日志 audit rows (?entity=&entity_id=&enterprise=&actor=&limit=&offset=)", Response: []audit.Row{}, Handler: h.audit},
		{Method: "GET", Pattern: "/api/v1/audit/verify", Roles: admins, Tag: tAdm, Summary: "校验审计链 verify the audit chain", Response: audit.Report{}, Handler: h.auditVerify},
	}
}

func (h *handlers) registerEnterprise(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req EnterpriseRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	e, err := h.s.RegisterEnterprise(r.Context(), actor(r, p), strings.TrimSpace(req.USCC), req.Name)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, e)
}

func (h *handlers) getEnterprise(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	e, err := h.s.GetEnterprise(r.Context(), actor(r, p), r.PathValue("uscc"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, e)
}

func (h *handlers) setBank(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req BankAccountRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := h.s.SetBankAccount(r.Context(), actor(r, p), r.PathValue("uscc"), req.BankName, req.BankAccount); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) setFacts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req FactsRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := h.s.SetFacts(r.Context(), actor(r, p), r.PathValue("uscc"), req.Facts, req.Source, req.AsOf); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) getFacts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	on := policy.DateOf(time.Now())
	if d := r.URL.Query().Get("date"); d != "" {
		var err error
		if on, err = policy.ParseDate(d); err != nil {
			return apperr.New(apperr.Invalid, "日期应为 YYYY-MM-DD", "date must be YYYY-MM-DD").WithField("date")
		}
	}
	fs, err := h.s.Facts(r.Context(), actor(r, p), r.PathValue("uscc"), on)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(fs))
}

func (h *handlers) rounds(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rs, err := h.s.Rounds(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(rs))
}

func (h *handlers) openRound(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req RoundRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	rd, err := h.s.OpenRound(r.Context(), actor(r, p), req.Name, req.Items, req.Opens, req.Closes)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, rd)
}

func (h *handlers) createApp(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ApplicationRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	app, err := h.s.CreateApplication(r.Context(), actor(r, p), req.Item, req.Facts)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, app)
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

func (h *handlers) listApps(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	apps, err := h.s.List(r.Context(), actor(r, p), desk.Filter{State: q.Get("state"), Item: q.Get("item"), USCC: q.Get("uscc"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(apps))
}

func (h *handlers) getApp(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	app, err := h.s.Get(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

func (h *handlers) updateFacts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ApplicationFactsRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	app, err := h.s.UpdateFacts(r.Context(), actor(r, p), r.PathValue("id"), req.Facts)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

// maxUpload bounds a multipart request: one file of 20 MiB and its fields.
const maxUpload = 20<<20 + 64<<10

func multipartFile(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return "", nil, apperr.New(apperr.UnsupportedMedia, "请以 multipart/form-data 上传文件", "upload as multipart/form-data")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", nil, apperr.New(apperr.TooLarge, "文件超过 20 MB 上限", "file larger than 20 MB")
		}
		return "", nil, apperr.New(apperr.Invalid, "无法读取上传的表单", "cannot read the form").WithField("file")
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return "", nil, apperr.New(apperr.Invalid, "请选择要上传的文件", "choose a file").WithField("file")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUpload))
	if err != nil {
		return "", nil, apperr.New(apperr.Invalid, "读取文件失败", "cannot read the file").WithField("file")
	}
	return hdr.Filename, data, nil
}

func (h *handlers) upload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	name, data, err := multipartFile(w, r)
	if err != nil {
		return err
	}
	m, err := h.s.Upload(r.Context(), actor(r, p), r.PathValue("id"), r.FormValue("kind"), name, data)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, m)
}

func (h *handlers) materials(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ms, err := h.s.Materials(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ms))
}

func (h *handlers) material(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	m, data, err := h.s.MaterialContent(r.Context(), actor(r, p), r.PathValue("id"), r.PathValue("mid"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", m.ContentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(m.Filename)}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, err = w.Write(data)
	return err
}

func (h *handlers) commit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := h.s.SignCommitment(r.Context(), actor(r, p), r.PathValue("id")); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) submit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	app, err := h.s.Submit(r.Context(), actor(r, p), r.PathValue("id"), r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

// optionalMessage reads {"message": …} when a body is sent.
func optionalMessage(r *http.Request) (string, error) {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return "", nil
	}
	var req MessageRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return "", err
	}
	return req.Message, nil
}

func (h *handlers) withdraw(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	msg, err := optionalMessage(r)
	if err != nil {
		return err
	}
	app, err := h.s.Withdraw(r.Context(), actor(r, p), r.PathValue("id"), msg)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

func (h *handlers) timeline(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ev, err := h.s.Timeline(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ev))
}

// message adapts a reviewer action that takes a message.
func (h *handlers) message(fn func(*desk.Service, contextT, desk.Actor, string, string) (*desk.Application, error)) func(http.ResponseWriter, *http.Request, auth.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		msg, err := optionalMessage(r)
		if err != nil {
			return err
		}
		app, err := fn(h.s, r.Context(), actor(r, p), r.PathValue("id"), msg)
		if err != nil {
			return err
		}
		return web.WriteJSON(w, http.StatusOK, app)
	}
}

func (h *handlers) assignPanel(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req PanelRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	app, err := h.s.AssignPanel(r.Context(), actor(r, p), r.PathValue("id"), req.Experts, req.N, req.Chair)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

func (h *handlers) panel(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ms, err := h.s.Panel(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ms))
}

func (h *handlers) declare(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req DeclarationRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := h.s.Declare(r.Context(), actor(r, p), r.PathValue("id"), req.Conflict, req.Note); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) score(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ScoreRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := h.s.Score(r.Context(), actor(r, p), r.PathValue("id"), req.Scores, int64(req.Amount), req.Comment); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) repropose(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	app, err := h.s.Repropose(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

func (h *handlers) objections(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	os, err := h.s.Objections(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(os))
}

func (h *handlers) object(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ObjectionRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	o, err := h.s.Object(r.Context(), actor(r, p), r.PathValue("id"), req.Name, req.Contact, req.Text)
	if err != nil {
		return err
	}
	o.Contact = "" // never echoed
	return web.WriteJSON(w, http.StatusCreated, o)
}

func (h *handlers) claw(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ClawRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	app, err := h.s.Claw(r.Context(), actor(r, p), r.PathValue("id"), int64(req.Amount), req.Reason)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

func (h *handlers) publicities(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ps, err := h.s.Publicities(r.Context())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ps))
}

func (h *handlers) publicity(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pb, err := h.s.GetPublicity(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, pb)
}

func writeXLSX(w http.ResponseWriter, name string, data []byte) error {
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	_, err := w.Write(data)
	return err
}

func (h *handlers) publicityXLSX(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	data, err := h.s.ExportPublicity(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeXLSX(w, "公示名单-"+r.PathValue("id")+".xlsx", data)
}

func (h *handlers) publish(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req PublishRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	pb, err := h.s.Publish(r.Context(), actor(r, p), req.Title, req.IDs)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, pb)
}

func (h *handlers) resolve(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ResolutionRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	app, err := h.s.ResolveObjection(r.Context(), actor(r, p), r.PathValue("id"), req.Upheld, req.Resolution)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

func (h *handlers) createBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req BatchRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	b, err := h.s.CreateBatch(r.Context(), actor(r, p), req.IDs)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusCreated, b)
}

func (h *handlers) getBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	b, err := h.s.GetBatch(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, b)
}

func (h *handlers) approveBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ApprovalRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	b, err := h.s.ApproveBatch(r.Context(), actor(r, p), r.PathValue("id"), req.Count, int64(req.Total))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, b)
}

func (h *handlers) recordPayment(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req PaymentRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	app, err := h.s.RecordPayment(r.Context(), actor(r, p), r.PathValue("id"), r.PathValue("app"), req.Paid, req.BankRef)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

func (h *handlers) batchXLSX(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	data, err := h.s.ExportBatch(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeXLSX(w, "拨付批次-"+r.PathValue("id")+".xlsx", data)
}

func (h *handlers) importOffers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	name, data, err := multipartFile(w, r)
	if err != nil {
		return err
	}
	rows, err := desk.ReadTable(data, name)
	if err != nil {
		return err
	}
	rep, err := h.s.ImportOffers(r.Context(), actor(r, p), r.FormValue("item"), r.FormValue("source"), rows)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(rep.Bad) > 0 {
		status = http.StatusUnprocessableEntity
	}
	return web.WriteJSON(w, status, rep)
}

func (h *handlers) offers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	os, err := h.s.Offers(r.Context(), actor(r, p), r.URL.Query().Get("state"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(os))
}

func (h *handlers) acceptOffer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	app, err := h.s.AcceptOffer(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, app)
}

func (h *handlers) declineOffer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := h.s.DeclineOffer(r.Context(), actor(r, p), r.PathValue("id")); err != nil {
		return err
	}
	return ok(w)
}

func (h *handlers) fundPools(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ps, err := h.s.FundPools(r.Context(), actor(r, p))
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ps))
}

func (h *handlers) prorata(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ProRataRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return err
	}
	pr, err := h.s.ProRata(r.Context(), actor(r, p), req.RoundID, req.Pool, req.Year, req.Apply)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, pr)
}

func (h *handlers) inbox(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	ms, err := h.s.Inbox(r.Context(), actor(r, p), limit)
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(ms))
}

func (h *handlers) audit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rows, err := audit.List(r.Context(), h.s.DB(), audit.Filter{Entity: q.Get("entity"), EntityID: q.Get("entity_id"), Enterprise: q.Get("enterprise"), ActorID: q.Get("actor"), Action: q.Get("action"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, nonNil(rows))
}

func (h *handlers) auditVerify(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rep, err := audit.Verify(r.Context(), h.s.DB())
	if err != nil {
		return err
	}
	return web.WriteJSON(w, http.StatusOK, rep)
}

// nonNil makes empty lists [] rather than null in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
