package portal

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/desk"
	"policydesk/web"
)

// reviewQueue is the department's queue: filters (state, item, credit
// code), paging, and the bulk actions that fit the state shown.
func (h *handlers) reviewQueue(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	lp, err := h.listPage(w, r, p, "审核工作台", desk.StateSubmitted)
	if err != nil {
		return err
	}
	pg := lp
	pg.Back = "/review?" + lp.Query
	pg.RowsHTML = rowsHTML(lp.Rows, columns{Pick: true, USCC: true, Submitted: true})
	var tabs []opt
	for _, s := range []string{desk.StateSubmitted, desk.StateReturned, desk.StateAccepted, desk.StateExpertReview, desk.StateWaitlisted,
		desk.StateProposed, desk.StatePublicized, desk.StateObjected, desk.StateApproved} {
		tabs = append(tabs, opt{s, desk.StateName(s), s == lp.State})
	}
	pg.Tabs = tabsHTML(tabs, "/review")
	switch pg.State {
	case desk.StateSubmitted:
		pg.Bulk = []stateOption{{"accept", "形式审查通过"}, {"return", "退回补正"}, {"reject", "不予支持"}}
	case desk.StateAccepted:
		pg.Bulk = []stateOption{{"opinion", "部门意见并拟支持（无需评审的事项）"}, {"panel", "抽取专家组（需评审的事项）"}, {"reject", "不予支持"}}
	case desk.StateExpertReview:
		pg.Bulk = []stateOption{{"consolidate", "汇总专家意见并拟支持"}, {"reject", "不予支持"}}
	case desk.StateWaitlisted:
		pg.Bulk = []stateOption{{"repropose", "候补转拟支持"}, {"reject", "不予支持"}}
	case desk.StateProposed:
		pg.Bulk = []stateOption{{"publish", "发布公示"}, {"reject", "不予支持"}}
		pg.PubTitle = fmt.Sprintf("政策兑现拟支持名单（%s）", h.today().String())
	case desk.StateReturned, desk.StatePublicized, desk.StateApproved:
		pg.Bulk = []stateOption{{"reject", "不予支持"}}
	}
	return h.srv.Render(w, r, http.StatusOK, "p-review", pg)
}

// maxBulk bounds one bulk action.
const maxBulk = 500

// bulk runs one action on the applications ticked: each is its own service
// call (and transaction), so one refusal does not undo the others; 公示 is
// one call for all, as one list.
func (h *handlers) bulk(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	a := actor(r, p)
	back := safeBack(r.PostForm.Get("back"), "/review", "/review")
	ids := r.PostForm["ids"]
	action := r.PostForm.Get("action")
	msg := r.PostForm.Get("message")
	if len(ids) == 0 {
		return h.done(w, r, back, "", apperr.New(apperr.Invalid, "请先勾选申请", "tick the applications first").WithField("ids"))
	}
	if len(ids) > maxBulk {
		return h.done(w, r, back, "", apperr.Newf(apperr.Invalid, "一次最多处理 %d 件", "at most %d at once", maxBulk).WithField("ids"))
	}
	switch action {
	case "publish":
		pb, err := h.svc.Publish(ctx, a, r.PostForm.Get("title"), ids)
		if err != nil {
			return h.done(w, r, back, "", err)
		}
		return h.done(w, r, "/publicity/"+pb.ID, fmt.Sprintf("已发布公示「%s」，共 %d 件，%s 至 %s", pb.Title, len(pb.Entries), pb.Starts, pb.Ends), nil)
	case "panel":
		n, _ := strconv.Atoi(r.PostForm.Get("n"))
		if n <= 0 {
			n = 3
		}
		return h.each(w, r, back, ids, func(id string) (string, error) {
			_, err := h.svc.AssignPanel(ctx, a, id, nil, n, "")
			return "专家组已组建", err
		})
	}
	if action == "return" && strings.TrimSpace(msg) == "" {
		return h.done(w, r, back, "", apperr.New(apperr.Invalid, "请写明需要补正的内容", "say what must be corrected").WithField("message"))
	}
	return h.each(w, r, back, ids, func(id string) (string, error) {
		_, ok, err := h.runReview(ctx, a, action, id, msg)
		return ok, err
	})
}

// each runs fn for every id and reports how many succeeded and why the
// others were refused.
func (h *handlers) each(w http.ResponseWriter, r *http.Request, back string, ids []string, fn func(id string) (string, error)) error {
	okN := 0
	verb := ""
	var fails []string
	for _, id := range ids {
		ok, err := fn(id)
		if err == nil {
			okN++
			if verb == "" && !strings.HasPrefix(ok, "资金池") {
				verb = ok
			}
			continue
		}
		body, _, shown := web.Describe(err)
		if !shown {
			return err
		}
		if body.Code == apperr.Invalid && len(fails) == 0 && okN == 0 && len(ids) > 1 {
			// The same refusal would repeat for every id (a missing message…).
			return h.done(w, r, back, "", err)
		}
		fails = append(fails, id+"："+h.hans.Replace(body.Message))
	}
	if len(fails) == 0 {
		text := fmt.Sprintf("已处理 %d 件", okN)
		if verb != "" {
			text = verb + "：" + text
		}
		setFlash(w, "ok", text)
	} else {
		setFlash(w, "error", fmt.Sprintf("成功 %d 件，未成功 %d 件：%s", okN, len(fails), strings.Join(fails, "；")))
	}
	seeOther(w, r, back)
	return nil
}

type expertTask struct {
	App      desk.Summary
	Declared bool
}

type expertPage struct {
	base
	Tasks []expertTask
}

// expertTasks lists the applications on the expert's panels; before the
// declaration the service shows nothing of the applicant.
func (h *handlers) expertTasks(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	apps, err := h.svc.ListSummaries(r.Context(), actor(r, p), desk.Filter{Limit: 200})
	if err != nil {
		return err
	}
	pg := expertPage{base: h.base(w, r, p, "评审任务", "desk")}
	for _, app := range apps {
		pg.Tasks = append(pg.Tasks, expertTask{App: app, Declared: app.USCC != ""})
	}
	return h.srv.Render(w, r, http.StatusOK, "p-expert", pg)
}
