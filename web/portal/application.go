package portal

import (
	"context"
	"encoding/json"
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

// factLine is one fact of an application, for people.
type factLine struct{ Label, Value string }

// materialNeed is one material the item asks for, with what was uploaded.
type materialNeed struct {
	Kind     string
	Name     string
	Required bool
	Files    []desk.Material
}

// expertOption is an expert a reviewer may put on a panel.
type expertOption struct{ ID, Name string }

type appPage struct {
	base
	App        *desk.Application
	Item       *web.ItemInfo
	EntName    string
	Facts      []factLine
	Needs      []materialNeed
	Timeline   []desk.Event
	Snapshot   *snapshot
	Estimate   *policy.ResultView
	EstStatus  string
	Missing    []string
	Fields     []*web.FactField
	Form       formState
	Key        string
	Commitment string

	Owner        bool // the applicant itself
	Editable     bool // draft or returned, by the applicant
	Reviewer     bool // may act as the department
	Expert       bool
	Redacted     bool // an expert before declaring
	Scored       string
	Staff        bool
	Panel        []panelLine
	Experts      []expertOption
	Objections   []desk.Objection
	CanReject    bool
	CanClaw      bool
	HasLetter    bool
	Rubric       []string
	ConflictNote string
}

type panelLine struct {
	desk.PanelMember
	Name   string
	Scores string
}

// rubric is what experts score, 0–100 each.
var rubric = []string{"必要性", "创新性", "实施效果"}

func (h *handlers) application(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	a := actor(r, p)
	ctx := r.Context()
	id := r.PathValue("id")
	app, err := h.svc.Get(ctx, a, id)
	if err != nil {
		return err
	}
	it := h.srv.Item(app.Item)
	pg := appPage{base: h.base(w, r, p, h.itemName(app.Item)+" · 申请 "+app.ID, "desk"), App: app, Item: it, Key: newKey(), Commitment: desk.Commitment, Rubric: rubric}
	pg.Owner = p.Role == auth.RoleEnterprise && p.Enterprise == app.USCC
	pg.Editable = pg.Owner && (app.State == desk.StateDraft || app.State == desk.StateReturned)
	pg.Reviewer = p.Role == auth.RoleAdmin || p.Role == auth.RoleReviewer && slices.Contains(app.Departments, p.Department)
	pg.Expert = p.Role == auth.RoleExpert
	pg.Redacted = pg.Expert && app.USCC == ""
	pg.Staff = !pg.Owner
	pg.CanReject = pg.Reviewer && slices.Contains([]string{desk.StateSubmitted, desk.StateReturned, desk.StateAccepted, desk.StateExpertReview,
		desk.StateWaitlisted, desk.StateProposed, desk.StatePublicized, desk.StateApproved}, app.State)
	pg.CanClaw = (p.Role == auth.RoleFinance || p.Role == auth.RoleAdmin) && app.State == desk.StatePaid
	pg.HasLetter = !pg.Expert && app.State != desk.StateDraft
	// The service names the applicant for whoever may see it, an expert
	// once cleared included (experts may not open the enterprise itself).
	pg.EntName = app.EnterpriseName
	if it != nil {
		for _, f := range it.FactViews {
			if raw, ok := app.Facts[f.Name]; ok {
				pg.Facts = append(pg.Facts, factLine{Label: f.Label, Value: factText(f, raw)})
			}
		}
	}
	if !pg.Redacted {
		mats, err := h.svc.Materials(ctx, a, id)
		if err != nil && !apperr.Is(err, apperr.Forbidden) && !apperr.Is(err, apperr.NotFound) {
			return err
		}
		pg.Needs = needs(it, mats)
		if pg.Timeline, err = h.svc.Timeline(ctx, a, id); err != nil {
			return err
		}
		names := h.userNames(r)
		for i := range pg.Timeline {
			ev := &pg.Timeline[i]
			if ev.To != desk.StateExpertReview || !strings.HasPrefix(ev.Message, "专家组:") {
				continue
			}
			if pg.Owner {
				// Who reviews is not the applicant's to know.
				ev.Message = "已组建专家组（评审专家名单不公开）"
				continue
			}
			// Panels are recorded by user id; staff read names.
			var ids []string
			_ = json.Unmarshal([]byte(strings.TrimPrefix(ev.Message, "专家组:")), &ids)
			for j, id := range ids {
				if n := names[id]; n != "" {
					ids[j] = n
				}
			}
			ev.Message = "专家组：" + strings.Join(ids, "、")
		}
	}
	pg.Snapshot = snapshotOf(app)
	if pg.Editable && it != nil {
		pg.Fields = withRows(it.FactViews, app.Facts)
		pg.Form.Values = formValues(pg.Fields, app.Facts)
		if pr, err := h.loadProfile(ctx, a, app.USCC); err == nil {
			if v, err := h.estimate(web.LangOf(r.Context()), pr, app.Item, app.Facts); err == nil {
				pg.Estimate, pg.EstStatus = &v, web.StatusLabel(string(v.Status))
				for _, m := range v.Missing {
					pg.Missing = append(pg.Missing, h.srv.FactLabel(it, m))
				}
			}
		}
	}
	if pg.Reviewer {
		if app.ReviewRequired && app.State == desk.StateAccepted {
			us, err := h.users.Users(ctx, auth.RoleExpert)
			if err != nil {
				return err
			}
			for _, u := range us {
				if !u.Disabled {
					pg.Experts = append(pg.Experts, expertOption{ID: u.ID, Name: u.Name})
				}
			}
		}
		if app.State == desk.StateExpertReview || app.ReviewRequired && app.State != desk.StateSubmitted && app.State != desk.StateAccepted && app.State != desk.StateReturned {
			panel, err := h.svc.Panel(ctx, a, id)
			if err != nil && !apperr.Is(err, apperr.Forbidden) {
				return err
			}
			names := h.userNames(r)
			for _, m := range panel {
				pl := panelLine{PanelMember: m, Name: names[m.ExpertID]}
				if len(m.Scores) > 0 {
					var sc map[string]int
					_ = json.Unmarshal(m.Scores, &sc)
					var parts []string
					for _, k := range rubric {
						if v, ok := sc[k]; ok {
							parts = append(parts, k+" "+strconv.Itoa(v))
						}
					}
					pl.Scores = strings.Join(parts, "，")
				}
				pg.Panel = append(pg.Panel, pl)
			}
		}
		if app.State == desk.StatePublicized || app.State == desk.StateObjected || app.State == desk.StateObjectionUpheld || app.State == desk.StateApproved {
			if pg.Objections, err = h.svc.Objections(ctx, a, id); err != nil && !apperr.Is(err, apperr.Forbidden) {
				return err
			}
		}
	}
	if pg.Expert && !pg.Redacted {
		if at, ok, err := h.svc.ScoredAt(ctx, a, id); err == nil && ok {
			pg.Scored = when(at)
		}
	}
	return h.srv.Render(w, r, http.StatusOK, "p-application", pg)
}

// userNames maps user ids to names, for panels.
func (h *handlers) userNames(r *http.Request) map[string]string {
	out := map[string]string{}
	us, err := h.users.Users(r.Context(), auth.RoleExpert)
	if err != nil {
		return out
	}
	for _, u := range us {
		out[u.ID] = u.Name
	}
	return out
}

// needs lists the item's materials with the files uploaded for each.
func needs(it *web.ItemInfo, mats []desk.Material) []materialNeed {
	var out []materialNeed
	if it != nil {
		for _, m := range it.Materials {
			out = append(out, materialNeed{Kind: m.ID, Name: m.Name, Required: true})
		}
	}
	out = append(out, materialNeed{Kind: "other", Name: "其他材料（补正说明等）"})
	for _, m := range mats {
		i := slices.IndexFunc(out, func(n materialNeed) bool { return n.Kind == m.Kind })
		if i < 0 {
			out = append(out, materialNeed{Kind: m.Kind, Name: m.Kind})
			i = len(out) - 1
		}
		out[i].Files = append(out[i].Files, m)
	}
	return out
}

func appURL(id string) string { return "/applications/" + url.PathEscape(id) }

func (h *handlers) updateFacts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	app, err := h.svc.Get(r.Context(), actor(r, p), id)
	if err != nil {
		return err
	}
	it := h.srv.Item(app.Item)
	if it == nil {
		return apperr.New(apperr.NotFound, "没有这个支持事项", "no such item")
	}
	_, err = h.svc.UpdateFacts(r.Context(), actor(r, p), id, factsFromForm(withRows(it.FactViews, app.Facts), r.PostForm))
	return h.done(w, r, appURL(id), "申报信息已保存", err)
}

func (h *handlers) upload(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseMultipart(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	app, err := h.svc.Get(r.Context(), actor(r, p), id)
	if err != nil {
		return err
	}
	if r.MultipartForm == nil || len(r.MultipartForm.File) == 0 {
		return h.done(w, r, appURL(id), "", apperr.New(apperr.Invalid, "请选择要上传的文件", "choose a file").WithField("file"))
	}
	err = h.uploadAll(r, actor(r, p), id, h.srv.Item(app.Item))
	return h.done(w, r, appURL(id), "材料已上传", err)
}

func (h *handlers) commit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	return h.done(w, r, appURL(id), "已签署信用承诺", h.svc.SignCommitment(r.Context(), actor(r, p), id))
}

func (h *handlers) submit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	_, err := h.svc.Submit(r.Context(), actor(r, p), id, keyOf(p, r.PostForm.Get("key")))
	return h.done(w, r, appURL(id), "申请已提交，等待形式审查", err)
}

func (h *handlers) withdraw(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	_, err := h.svc.Withdraw(r.Context(), actor(r, p), id, r.PostForm.Get("message"))
	return h.done(w, r, appURL(id), "申请已撤回", err)
}

// runReview runs one of the department's actions that take a message and
// says what happened.
func (h *handlers) runReview(ctx context.Context, a desk.Actor, action, id, msg string) (*desk.Application, string, error) {
	var app *desk.Application
	var err error
	var ok string
	switch action {
	case "accept":
		app, err = h.svc.Accept(ctx, a, id, msg)
		ok = "形式审查通过"
	case "return":
		app, err = h.svc.Return(ctx, a, id, msg)
		ok = "已退回补正"
	case "reject":
		app, err = h.svc.Reject(ctx, a, id, msg)
		ok = "已决定不予支持"
	case "opinion":
		app, err = h.svc.Opinion(ctx, a, id, msg)
		ok = "部门意见已记录，拟予支持"
	case "consolidate":
		app, err = h.svc.Consolidate(ctx, a, id, msg)
		ok = "专家意见已汇总，拟予支持"
	case "repropose":
		app, err = h.svc.Repropose(ctx, a, id)
		ok = "已重新拟支持"
	default:
		return nil, "", apperr.New(apperr.Invalid, "未知的操作", "unknown action").WithField("action")
	}
	if err == nil && app.State == desk.StateWaitlisted {
		ok = "资金池或上限不足，已进入候补：" + app.Note
	}
	return app, ok, err
}

func (h *handlers) reviewAction(name string) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		id := r.PathValue("id")
		_, ok, err := h.runReview(r.Context(), actor(r, p), name, id, r.PostForm.Get("message"))
		return h.done(w, r, appURL(id), ok, err)
	}
}

func (h *handlers) assignPanel(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	n := 0
	if v := r.PostForm.Get("n"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	_, err := h.svc.AssignPanel(r.Context(), actor(r, p), id, r.PostForm["experts"], n, r.PostForm.Get("chair"))
	return h.done(w, r, appURL(id), "专家组已组建，已通知专家", err)
}

func (h *handlers) declare(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	var conflict bool
	switch r.PostForm.Get("conflict") {
	case "no":
	case "yes":
		conflict = true
	default:
		return h.done(w, r, appURL(id), "", apperr.New(apperr.Invalid, "请选择是否存在利益冲突", "say whether there is a conflict").WithField("conflict"))
	}
	err := h.svc.Declare(r.Context(), actor(r, p), id, conflict, r.PostForm.Get("note"))
	if err == nil && conflict {
		return h.done(w, r, "/expert", "已声明利益冲突并回避，系统已抽取替补专家", nil)
	}
	return h.done(w, r, appURL(id), "已声明无利益冲突，现在可以查看材料并评分", err)
}

func (h *handlers) score(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	scores := map[string]int{}
	for i, k := range rubric {
		v := strings.TrimSpace(r.PostForm.Get("score" + strconv.Itoa(i)))
		n, err := strconv.Atoi(v)
		if err != nil {
			return h.done(w, r, appURL(id), "", apperr.Newf(apperr.Invalid, "请为「%s」打分（0–100 的整数）", "score %s (0–100)", k).WithField("scores"))
		}
		scores[k] = n
	}
	amount, err := parseYuan(r.PostForm.Get("amount"), "amount")
	if err != nil {
		return h.done(w, r, appURL(id), "", err)
	}
	err = h.svc.Score(r.Context(), actor(r, p), id, scores, amount, r.PostForm.Get("comment"))
	return h.done(w, r, appURL(id), "评分已提交", err)
}

// parseYuan reads an amount typed in yuan (2,000,000 or 200万) as fen.
func parseYuan(s, field string) (int64, error) {
	s = strings.NewReplacer(",", "", "，", "", " ", "", "元", "").Replace(strings.TrimSpace(s))
	if w, ok := strings.CutSuffix(s, "万"); ok {
		f, err := money.Parse(w)
		if err == nil && f <= (1<<62)/10000 {
			return f * 10000, nil
		}
	} else if f, err := money.Parse(s); err == nil {
		return f, nil
	}
	return 0, apperr.New(apperr.Invalid, "金额应为元，至多两位小数（如 1500000 或 150万）", "amount in yuan with at most 2 decimals").WithField(field)
}

func (h *handlers) claw(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	amount, err := parseYuan(r.PostForm.Get("amount"), "amount")
	if err != nil {
		return h.done(w, r, appURL(id), "", err)
	}
	_, err = h.svc.Claw(r.Context(), actor(r, p), id, amount, r.PostForm.Get("reason"))
	return h.done(w, r, appURL(id), "已追回，资金退回资金池", err)
}

func (h *handlers) resolve(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	upheld := r.PostForm.Get("upheld") == "yes"
	app, err := h.svc.ResolveObjection(r.Context(), actor(r, p), r.PathValue("id"), upheld, r.PostForm.Get("resolution"))
	back := safeBack(r.PostForm.Get("back"), "/applications/", "/review")
	if err != nil {
		return h.done(w, r, back, "", err)
	}
	msg := "异议不成立，已恢复公示"
	if upheld {
		msg = "异议成立，不予支持，预留资金已释放"
	}
	return h.done(w, r, appURL(app.ID), msg, nil)
}

type letterPage struct {
	base
	App      *desk.Application
	EntName  string
	Kind     string
	Title    string
	BankRef  string
	Snapshot *snapshot
	Date     string
	DocNo    string
}

// letter is the printable decision letter or payment receipt.
func (h *handlers) letter(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	a := actor(r, p)
	app, err := h.svc.Get(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	if app.USCC == "" || app.State == desk.StateDraft {
		return apperr.New(apperr.NotFound, "该申请尚无决定书", "no letter yet")
	}
	pg := letterPage{base: h.base(w, r, p, "决定书", "desk"), App: app, Date: day(app.UpdatedAt), DocNo: "亦政兑〔" + strconv.Itoa(app.UpdatedAt.In(beijing).Year()) + "〕" + strings.TrimPrefix(app.ID, "app_")}
	if ent, err := h.svc.GetEnterprise(r.Context(), a, app.USCC); err == nil {
		pg.EntName = ent.Name
	}
	switch app.State {
	case desk.StatePaid, desk.StateClawedBack:
		pg.Kind, pg.Title = "paid", "政策兑现资金拨付回执"
		pg.BankRef = h.bankRef(r, a, app.ID)
		pg.Date = day(app.PaidAt)
	case desk.StateApproved, desk.StateBatched:
		pg.Kind, pg.Title = "approved", "政策兑现支持决定书"
	case desk.StateRejected, desk.StateObjectionUpheld, desk.StateWithdrawn:
		pg.Kind, pg.Title = "refused", "不予支持告知书"
	case desk.StateProposed, desk.StatePublicized, desk.StateObjected:
		pg.Kind, pg.Title = "proposed", "拟支持告知书"
	default:
		pg.Kind, pg.Title = "receipt", "申请受理回执"
	}
	pg.Snapshot = snapshotOf(app)
	return h.srv.Render(w, r, http.StatusOK, "p-letter", pg)
}

// snapshot is the engine's result frozen with an application at submit
// (a policy.ResultView as JSON), as far as pages show it.
type snapshot struct {
	Status         string `json:"status"`
	Amount         string `json:"amount"`
	ReviewRequired bool   `json:"review_required"`
	Trace          []struct {
		Ref  string `json:"ref"`
		Text string `json:"text"`
	} `json:"trace"`
}

func snapshotOf(app *desk.Application) *snapshot {
	if len(app.Snapshot) == 0 {
		return nil
	}
	var v snapshot
	if json.Unmarshal(app.Snapshot, &v) != nil {
		return nil
	}
	return &v
}
