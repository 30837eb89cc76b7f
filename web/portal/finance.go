package portal

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/desk"
)

type financePage struct {
	base
	Approved  template.HTML
	Count     int
	Total     int64
	Batches   []*desk.Batch
	CanCreate bool
	// Lines are voucher redemptions to pay, ticked in the same form as
	// the awards, so that one batch can pay both.
	Lines     []desk.Line
	LineTotal int64
}

// financeHome lists the approved awards waiting for a batch and the recent
// batches.
func (h *handlers) financeHome(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	a := actor(r, p)
	ctx := r.Context()
	apps, err := h.svc.ListSummaries(ctx, a, desk.Filter{State: desk.StateApproved, Limit: 500})
	if err != nil {
		return err
	}
	pg := financePage{base: h.base(w, r, p, "拨付工作台", "desk"), Count: len(apps), CanCreate: p.Role == auth.RoleFinance}
	pg.Approved = rowsHTML(h.rows(apps), columns{Pick: pg.CanCreate, USCC: true, Updated: true})
	for _, app := range apps {
		pg.Total += int64(app.Approved)
	}
	if pg.Lines, err = h.svc.OpenPayables(ctx, a, 500); err != nil {
		return err
	}
	for _, l := range pg.Lines {
		pg.LineTotal += int64(l.Amount)
	}
	if pg.Batches, err = h.svc.RecentBatches(ctx, a, 50); err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-finance", pg)
}

func (h *handlers) createBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	ids := r.PostForm["ids"]
	if len(ids) == 0 {
		return h.done(w, r, "/finance", "", apperr.New(apperr.Invalid, "请勾选已批准的申请或待拨付的券兑付", "tick approved applications or redemptions to pay").WithField("ids"))
	}
	b, err := h.svc.CreateBatch(r.Context(), actor(r, p), ids)
	if err != nil {
		return h.done(w, r, "/finance", "", err)
	}
	return h.done(w, r, "/finance/batches/"+b.ID, fmt.Sprintf("已创建拨付批次：%d 笔，合计 %s。请另一位财政人员核对控制总数后审批。", b.Count, fenText(b.Total)), nil)
}

type batchPage struct {
	base
	Batch     *desk.Batch
	Creator   bool
	IsFinance bool
	Pending   int
	Names     map[string]string
}

func (h *handlers) batchPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	b, err := h.svc.GetBatch(r.Context(), actor(r, p), r.PathValue("id"))
	if err != nil {
		return err
	}
	pg := batchPage{base: h.base(w, r, p, "拨付批次 "+b.ID, "desk"), Batch: b, Creator: b.CreatedBy == p.UserID, IsFinance: p.Role == auth.RoleFinance}
	for _, pm := range b.Payments {
		if pm.State == "pending" {
			pg.Pending++
		}
	}
	pg.Names = map[string]string{}
	if us, err := h.users.Users(r.Context(), auth.RoleFinance); err == nil {
		for _, u := range us {
			pg.Names[u.ID] = u.Name
		}
	}
	return h.srv.Render(w, r, http.StatusOK, "p-batch", pg)
}

func (h *handlers) approveBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	back := "/finance/batches/" + url.PathEscape(id)
	count, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("count")))
	if err != nil || count < 0 {
		return h.done(w, r, back, "", apperr.New(apperr.Invalid, "请填写核对后的笔数", "give the count you checked").WithField("count"))
	}
	total, err := parseYuan(r.PostForm.Get("total"), "total")
	if err != nil {
		return h.done(w, r, back, "", err)
	}
	_, err = h.svc.ApproveBatch(r.Context(), actor(r, p), id, count, total)
	return h.done(w, r, back, "控制总数一致，批次已审批，可以登记拨付结果", err)
}

func (h *handlers) recordPayment(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id, app := r.PathValue("id"), r.PathValue("app")
	paid := r.PostForm.Get("result") == "paid"
	_, err := h.svc.RecordPayment(r.Context(), actor(r, p), id, app, paid, r.PostForm.Get("bank_ref"))
	msg := "已登记拨付，资金已从资金池正式支出"
	if !paid {
		msg = "已登记拨付失败，该申请回到待拨付"
	}
	return h.done(w, r, "/finance/batches/"+id, msg, err)
}
