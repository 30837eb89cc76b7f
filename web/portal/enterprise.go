package portal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/web"
)

// factRow is one enterprise fact on record, for people.
type factRow struct {
	Label, Value, Source, AsOf string
}

type enterprisePage struct {
	base
	USCC        string
	Registered  bool
	Ent         desk.Enterprise
	Facts       []factRow
	Fields      []*web.FactField
	Form        formState
	CanEdit     bool // the enterprise itself or an admin: bank account
	CanFacts    bool
	SelfDeclare bool // the enterprise declares its own facts
	Apps        template.HTML
	Today       string
}

// formState carries values for the layout's "field" template.
type formState struct {
	Values url.Values
}

func (h *handlers) myProfile(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return h.renderEnterprise(w, r, p, p.Enterprise)
}

func (h *handlers) enterprisePage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return h.renderEnterprise(w, r, p, r.PathValue("uscc"))
}

func (h *handlers) renderEnterprise(w http.ResponseWriter, r *http.Request, p auth.Principal, code string) error {
	a := actor(r, p)
	ent, err := h.svc.GetEnterprise(r.Context(), a, code)
	registered := err == nil
	if err != nil && !(apperr.Is(err, apperr.NotFound) && p.Role == auth.RoleEnterprise && p.Enterprise == code) {
		return err
	}
	title := "单位信息"
	nav := "desk"
	if registered {
		title = ent.Name
	}
	pg := enterprisePage{base: h.base(w, r, p, title, nav), USCC: code, Registered: registered, Ent: ent, Today: h.today().String(),
		CanEdit:     p.Role == auth.RoleAdmin || p.Role == auth.RoleEnterprise && p.Enterprise == code,
		CanFacts:    p.Role == auth.RoleAdmin || p.Role == auth.RoleReviewer || p.Role == auth.RoleEnterprise && p.Enterprise == code,
		SelfDeclare: p.Role == auth.RoleEnterprise,
		Fields:      h.srv.EnterpriseFields(), Form: formState{Values: url.Values{}}}
	if registered {
		fs, err := h.svc.Facts(r.Context(), a, code, h.today())
		if err != nil {
			return err
		}
		stored := map[string]json.RawMessage{}
		for _, f := range fs {
			stored[f.Name] = f.Value
		}
		for _, fld := range pg.Fields {
			if raw, ok := stored[fld.Name]; ok {
				i := slices.IndexFunc(fs, func(x desk.Fact) bool { return x.Name == fld.Name })
				pg.Facts = append(pg.Facts, factRow{Label: fld.Label, Value: factText(fld, raw), Source: sourceName(fs[i].Source), AsOf: fs[i].AsOf})
			}
		}
		pg.Fields = withRows(pg.Fields, stored)
		pg.Form.Values = formValues(pg.Fields, stored)
		if p.Role != auth.RoleEnterprise {
			apps, err := h.svc.ListSummaries(r.Context(), a, desk.Filter{USCC: code, Limit: 100})
			if err != nil {
				return err
			}
			pg.Apps = rowsHTML(h.rows(apps), columns{Submitted: true, Updated: true})
		}
	}
	return h.srv.Render(w, r, http.StatusOK, "p-enterprise", pg)
}

func (h *handlers) registerEnterprise(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	code := strings.TrimSpace(r.PostForm.Get("uscc"))
	if p.Role == auth.RoleEnterprise && code == "" {
		code = p.Enterprise
	}
	_, err := h.svc.RegisterEnterprise(r.Context(), actor(r, p), code, r.PostForm.Get("name"))
	return h.done(w, r, h.enterpriseURL(p, code), "企业信息已登记", err)
}

func (h *handlers) enterpriseURL(p auth.Principal, code string) string {
	if p.Role == auth.RoleEnterprise {
		return "/me/profile"
	}
	return "/enterprises/" + url.PathEscape(code)
}

func (h *handlers) setBank(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	code := r.PathValue("uscc")
	err := h.svc.SetBankAccount(r.Context(), actor(r, p), code, r.PostForm.Get("bank_name"), r.PostForm.Get("bank_account"))
	return h.done(w, r, h.enterpriseURL(p, code), "银行账户已保存（加密存储）", err)
}

func (h *handlers) setFacts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	code := r.PathValue("uscc")
	facts := factsFromForm(h.srv.EnterpriseFields(), r.PostForm)
	source := desk.SourceSelf
	if p.Role != auth.RoleEnterprise {
		source = desk.SourceReviewer
		if r.PostForm.Get("source") == desk.SourceImported {
			source = desk.SourceImported
		}
	}
	err := h.svc.SetFacts(r.Context(), actor(r, p), code, facts, source, strings.TrimSpace(r.PostForm.Get("as_of")))
	back := safeBack(r.PostForm.Get("back"), "/", h.enterpriseURL(p, code))
	return h.done(w, r, back, "企业事实已记录", err)
}

// benefit is one item as the enterprise may get it.
type benefit struct {
	Item     *web.ItemInfo
	Status   string
	Class    string
	Amount   string
	Missing  []string
	Reasons  string
	Open     bool // a round takes it now
	Applied  string
	AppState string
}

type benefitsPage struct {
	base
	Offers     []desk.Offer
	Benefits   []benefit
	Registered bool
	Unknown    []string // enterprise facts not on record
	Total      int64
	Commitment string
}

// benefits is 我能获得什么: open 免申即享 offers, and every item estimated
// with the enterprise's facts and grant history.
func (h *handlers) benefits(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	a := actor(r, p)
	ctx := r.Context()
	pg := benefitsPage{base: h.base(w, r, p, "我能获得什么", "desk"), Commitment: desk.Commitment}
	if _, err := h.svc.GetEnterprise(ctx, a, p.Enterprise); err != nil {
		if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		return h.srv.Render(w, r, http.StatusOK, "p-benefits", pg)
	}
	pg.Registered = true
	offers, err := h.svc.Offers(ctx, a, "")
	if err != nil {
		return err
	}
	pg.Offers = offers
	pr, err := h.loadProfile(ctx, a, p.Enterprise)
	if err != nil {
		return err
	}
	for _, f := range h.srv.EnterpriseFields() {
		if !pr.known[f.Name] && !f.Optional {
			pg.Unknown = append(pg.Unknown, f.Label)
		}
	}
	open, err := h.openItems(r)
	if err != nil {
		return err
	}
	apps, err := h.svc.ListSummaries(ctx, a, desk.Filter{Limit: 500})
	if err != nil {
		return err
	}
	for _, it := range h.srv.Items() {
		if h.b.Item(it.ID).External != "" {
			continue
		}
		v, err := h.estimate(web.LangOf(r.Context()), pr, it.ID, nil)
		if err != nil {
			return err
		}
		bf := benefit{Item: it, Status: web.StatusLabel(string(v.Status)), Class: statusClassOf(v.Status), Open: open[it.ID], Reasons: reasonText(v.Reasons)}
		if v.Status == policy.Eligible {
			if f, err := money.Parse(v.Amount); err == nil {
				bf.Amount = fenText(f)
				pg.Total += f
			}
		}
		for _, m := range v.Missing {
			bf.Missing = append(bf.Missing, h.srv.FactLabel(it, m))
		}
		for _, app := range apps {
			if app.Item == it.ID && !desk.Terminal(app.State) {
				bf.Applied, bf.AppState = app.ID, app.StateName
				break
			}
		}
		pg.Benefits = append(pg.Benefits, bf)
	}
	return h.srv.Render(w, r, http.StatusOK, "p-benefits", pg)
}

func statusClassOf(st policy.Status) string {
	switch st {
	case policy.Eligible:
		return "ok"
	case policy.Incomplete:
		return "partial"
	}
	return "no"
}

// openItems says which items an open round takes today.
func (h *handlers) openItems(r *http.Request) (map[string]bool, error) {
	rounds, err := h.svc.Rounds(r.Context())
	if err != nil {
		return nil, err
	}
	open := map[string]bool{}
	for _, rd := range rounds {
		if rd.Open {
			for _, it := range rd.Items {
				open[it] = true
			}
		}
	}
	return open, nil
}

func (h *handlers) acceptOffer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	app, err := h.svc.AcceptOffer(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return h.done(w, r, "/me/benefits", "", err)
	}
	return h.done(w, r, "/applications/"+app.ID, "已确认免申即享，申请已自动提交", nil)
}

func (h *handlers) declineOffer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	err := h.svc.DeclineOffer(r.Context(), actor(r, p), r.PathValue("id"))
	return h.done(w, r, "/me/benefits", "已放弃该事项", err)
}

// ListPage is a page with a list of applications: its filters, paging
// and rows, formatted once in Go so that the template only places them.
type ListPage struct {
	framed
	Rows     []appRow
	RowsHTML template.HTML
	State    string
	Item     string
	USCC     string
	States   template.HTML // the options of the filters
	Items    template.HTML
	Offset   int
	Next     int
	Prev     int
	More     bool
	Query    string
	From     int // the first row's number
	To       int
	// The reviewer's queue: tabs by state, the page to come back to after
	// a bulk action, the actions that fit the state, the 公示 title.
	Tabs     template.HTML
	Back     string
	Bulk     []stateOption
	PubTitle string
}

// appRow is one application in a list.
type appRow struct {
	ID, USCC, EntName, ItemName, Article, StateName, StateClass, Amount, Submitted, Updated string
	Review                                                                                  bool
}

// opt is an option of a select.
type opt struct {
	Value, Label string
	Selected     bool
}

func (h *handlers) rows(apps []desk.Summary) []appRow {
	out := make([]appRow, len(apps))
	for i, a := range apps {
		amount := "—"
		if v := a.Amount(); v > 0 {
			amount = fenText(v)
		}
		out[i] = appRow{ID: a.ID, USCC: a.USCC, EntName: a.EnterpriseName, ItemName: h.itemName(a.Item), Article: policy.ArticleName(a.Article, policy.Chinese),
			StateName: a.StateName, StateClass: stateClass(a.State), Amount: amount, Submitted: when(a.SubmittedAt), Updated: when(&a.UpdatedAt), Review: a.ReviewRequired}
	}
	return out
}

type stateOption struct{ Value, Label string }

var allStates = []string{desk.StateDraft, desk.StateSubmitted, desk.StateReturned, desk.StateAccepted, desk.StateExpertReview,
	desk.StateWaitlisted, desk.StateProposed, desk.StatePublicized, desk.StateObjected, desk.StateApproved, desk.StateBatched,
	desk.StatePaid, desk.StateRejected, desk.StateWithdrawn, desk.StateObjectionUpheld, desk.StateClawedBack}

// pageSize is how many applications a list shows at a time.
const pageSize = 50

// listFilter reads ?state=&item=&uscc=&offset= for a list page.
func listFilter(r *http.Request, defState string) (desk.Filter, error) {
	q := r.URL.Query()
	f := desk.Filter{State: q.Get("state"), Item: q.Get("item"), USCC: strings.TrimSpace(q.Get("uscc")), Limit: pageSize + 1}
	if _, ok := q["state"]; !ok {
		f.State = defState
	}
	if f.State != "" && !slices.Contains(allStates, f.State) {
		return f, apperr.New(apperr.Invalid, "未知的状态", "unknown state").WithField("state")
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			return f, apperr.New(apperr.Invalid, "参数 offset 应为非负整数", "offset must be a non-negative integer").WithField("offset")
		}
		f.Offset = n
	}
	return f, nil
}

func (h *handlers) listPage(w http.ResponseWriter, r *http.Request, p auth.Principal, title, defState string) (ListPage, error) {
	f, err := listFilter(r, defState)
	if err != nil {
		return ListPage{}, err
	}
	apps, err := h.svc.ListSummaries(r.Context(), actor(r, p), f)
	if err != nil {
		return ListPage{}, err
	}
	fr, err := h.framed(w, r, p, title, "desk")
	if err != nil {
		return ListPage{}, err
	}
	pg := ListPage{framed: fr, State: f.State, Item: f.Item, USCC: f.USCC, Offset: f.Offset}
	var states, items []opt
	for _, s := range allStates {
		states = append(states, opt{s, desk.StateName(s), s == f.State})
	}
	for _, it := range h.srv.Items() {
		items = append(items, opt{it.ID, it.Name, it.ID == f.Item})
	}
	pg.States, pg.Items = optionsHTML(states), optionsHTML(items)
	if len(apps) > pageSize {
		apps, pg.More = apps[:pageSize], true
	}
	pg.Rows = h.rows(apps)
	pg.From, pg.To = f.Offset+1, f.Offset+len(apps)
	pg.Next, pg.Prev = f.Offset+pageSize, max(f.Offset-pageSize, 0)
	q := url.Values{}
	q.Set("state", f.State)
	if f.Item != "" {
		q.Set("item", f.Item)
	}
	if f.USCC != "" {
		q.Set("uscc", f.USCC)
	}
	pg.Query = q.Encode()
	return pg, nil
}

func (h *handlers) myApplications(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg, err := h.listPage(w, r, p, "我的申请", "")
	if err != nil {
		return err
	}
	pg.RowsHTML = rowsHTML(pg.Rows, columns{Submitted: true, Updated: true})
	return h.srv.Render(w, r, http.StatusOK, "p-my-apps", pg)
}

type newAppPage struct {
	base
	Items      []*web.ItemInfo
	Open       map[string]bool
	Item       *web.ItemInfo
	EntFields  []*web.FactField
	ItemFields []*web.FactField
	Form       formState
	Estimate   *policy.ResultView
	Status     string
	Registered bool
	HasBank    bool
	Commitment string
	Key        string
	Error      *web.ErrorBody
}

// newApplication is the form of one item: its own facts, the enterprise
// facts the engine still misses (and only those), each material to upload
// by name, and the 信用承诺.
func (h *handlers) newApplication(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return h.renderNewApp(w, r, p, r.URL.Query().Get("item"), url.Values{}, nil, http.StatusOK)
}

func (h *handlers) renderNewApp(w http.ResponseWriter, r *http.Request, p auth.Principal, item string, vals url.Values, fail *web.ErrorBody, status int) error {
	a := actor(r, p)
	ctx := r.Context()
	open, err := h.openItems(r)
	if err != nil {
		return err
	}
	pg := newAppPage{base: h.base(w, r, p, "新建申请", "desk"), Items: h.srv.Items(), Open: open, Form: formState{Values: vals},
		Commitment: desk.Commitment, Key: newKey(), Error: fail}
	ent, err := h.svc.GetEnterprise(ctx, a, p.Enterprise)
	switch {
	case err == nil:
		pg.Registered, pg.HasBank = true, ent.BankMasked != ""
	case !apperr.Is(err, apperr.NotFound):
		return err
	}
	if item == "" {
		return h.srv.Render(w, r, status, "p-new-app", pg)
	}
	pg.Item = h.srv.Item(item)
	if pg.Item == nil || h.b.Item(item).External != "" {
		return apperr.New(apperr.NotFound, "没有这个支持事项", "no such item")
	}
	pg.ItemFields = pg.Item.FactViews
	if pg.Registered {
		pr, err := h.loadProfile(ctx, a, p.Enterprise)
		if err != nil {
			return err
		}
		v, err := h.estimate(web.LangOf(r.Context()), pr, item, nil)
		if err != nil {
			return err
		}
		pg.Estimate, pg.Status = &v, web.StatusLabel(string(v.Status))
		missing := map[string]bool{}
		for _, m := range v.Missing {
			missing[m] = true
		}
		for _, f := range h.srv.EnterpriseFields() {
			// Only the enterprise facts the engine still misses for this
			// item: those on record are not asked again.
			if missing[f.Name] {
				pg.EntFields = append(pg.EntFields, f)
			}
		}
	}
	return h.srv.Render(w, r, status, "p-new-app", pg)
}

func newKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// createApplication saves the missing enterprise facts, starts the draft,
// uploads each material, signs the commitment when ticked, and submits
// when asked. A refusal before the draft exists shows the form again with
// what was typed; after, the draft's page says what is left to do.
func (h *handlers) createApplication(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseMultipart(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	a := actor(r, p)
	vals := r.Form
	item := vals.Get("item")
	it := h.srv.Item(item)
	if it == nil {
		return apperr.New(apperr.Invalid, "请选择支持事项", "choose an item").WithField("item")
	}
	refuse := func(err error) error {
		body, status, shown := web.Describe(err)
		if !shown {
			return err
		}
		return h.renderNewApp(w, r, p, item, vals, &body, status)
	}
	if ent := factsFromForm(h.srv.EnterpriseFields(), vals); len(ent) > 0 {
		if err := h.svc.SetFacts(ctx, a, p.Enterprise, ent, desk.SourceSelf, ""); err != nil {
			return refuse(err)
		}
	}
	app, err := h.svc.CreateApplication(ctx, a, item, factsFromForm(it.FactViews, vals))
	if err != nil {
		return refuse(err)
	}
	back := "/applications/" + app.ID
	if err := h.uploadAll(r, a, app.ID, it); err != nil {
		return h.done(w, r, back, "", err)
	}
	if vals.Get("commitment") == "signed" {
		if err := h.svc.SignCommitment(ctx, a, app.ID); err != nil {
			return h.done(w, r, back, "", err)
		}
	}
	if vals.Get("action") != "submit" {
		return h.done(w, r, back, "草稿已保存", nil)
	}
	_, err = h.svc.Submit(ctx, a, app.ID, keyOf(p, vals.Get("key")))
	return h.done(w, r, back, "申请已提交，等待形式审查", err)
}

// keyOf scopes a form's idempotency key to the user.
func keyOf(p auth.Principal, k string) string {
	k = strings.TrimSpace(k)
	if k == "" || len(k) > 64 {
		return ""
	}
	return "page:" + p.UserID + ":" + k
}

// uploadAll uploads the files of the form's mat.KIND inputs.
func (h *handlers) uploadAll(r *http.Request, a desk.Actor, id string, it *web.ItemInfo) error {
	if r.MultipartForm == nil {
		return nil
	}
	kinds := []string{"other"}
	for _, m := range it.Materials {
		kinds = append(kinds, m.ID)
	}
	for _, k := range kinds {
		for _, fh := range r.MultipartForm.File["mat."+k] {
			if fh.Size == 0 && fh.Filename == "" {
				continue
			}
			f, err := fh.Open()
			if err != nil {
				return err
			}
			data, err := io.ReadAll(io.LimitReader(f, 21<<20))
			f.Close()
			if err != nil {
				return err
			}
			if _, err := h.svc.Upload(r.Context(), a, id, k, fh.Filename, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// receipt is one payment to the enterprise.
type receipt struct {
	App     *desk.Application
	BankRef string
	PaidAt  string
}

type paymentsPage struct {
	base
	Receipts []receipt
	Total    int64
	Bank     string
}

func (h *handlers) myPayments(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	a := actor(r, p)
	ctx := r.Context()
	pg := paymentsPage{base: h.base(w, r, p, "拨付回执", "desk")}
	for _, st := range []string{desk.StatePaid, desk.StateClawedBack} {
		apps, err := h.svc.List(ctx, a, desk.Filter{State: st, Limit: 500})
		if err != nil {
			return err
		}
		for _, app := range apps {
			rc := receipt{App: app, PaidAt: when(app.PaidAt), BankRef: h.bankRef(r, a, app.ID)}
			pg.Receipts = append(pg.Receipts, rc)
			pg.Total += int64(app.Paid) - int64(app.Clawed)
		}
	}
	if ent, err := h.svc.GetEnterprise(ctx, a, p.Enterprise); err == nil {
		pg.Bank = ent.BankName + " " + ent.BankMasked
	}
	return h.srv.Render(w, r, http.StatusOK, "p-payments", pg)
}

// bankRef finds the bank reference in the application's timeline (the
// payment step records it).
func (h *handlers) bankRef(r *http.Request, a desk.Actor, id string) string {
	ev, err := h.svc.Timeline(r.Context(), a, id)
	if err != nil {
		return ""
	}
	for i := len(ev) - 1; i >= 0; i-- {
		if ev[i].To == desk.StatePaid {
			if _, ref, ok := strings.Cut(ev[i].Message, "银行流水号 "); ok {
				return ref
			}
		}
	}
	return ""
}

type inboxPage struct {
	base
	Messages []desk.Message
}

func (h *handlers) inbox(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ms, err := h.svc.Inbox(r.Context(), actor(r, p), 100)
	if err != nil {
		return err
	}
	for i := range ms {
		// Messages name items as the bundle writes them, in Traditional.
		ms[i].Subject, ms[i].Body = h.hans.Replace(ms[i].Subject), h.hans.Replace(ms[i].Body)
	}
	return h.srv.Render(w, r, http.StatusOK, "p-inbox", inboxPage{base: h.base(w, r, p, "站内消息", "inbox"), Messages: ms})
}
