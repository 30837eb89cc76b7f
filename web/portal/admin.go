package portal

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"policydesk/apperr"
	"policydesk/audit"
	"policydesk/auth"
	"policydesk/desk"
	"policydesk/policy"
	"policydesk/web"
)

// poolLine is one annual pool: its budget and what is left.
type poolLine struct {
	Pool, Name string
	Article    int
	Year       int
	Budget     int64
	Remaining  int64
	Funded     bool
}

type adminPage struct {
	base
	Rounds  []desk.Round
	Items   []*web.ItemInfo
	Pools   []poolLine
	PoolIDs []poolLine // one per pool, for the pro-rata form
	Years   []int
	Offers  []desk.Offer
	ProRata *desk.ProRata
	Import  *desk.ImportReport
	Today   string
	Until   string
	Error   *web.ErrorBody
}

func (h *handlers) adminData(w http.ResponseWriter, r *http.Request, p auth.Principal) (adminPage, error) {
	ctx := r.Context()
	pg := adminPage{base: h.base(w, r, p, "管理", "desk"), Items: h.srv.Items(), Today: h.today().String(), Until: h.b.InForce.Until.String()}
	var err error
	if pg.Rounds, err = h.svc.Rounds(ctx); err != nil {
		return pg, err
	}
	if pg.Pools, err = h.poolLines(r); err != nil {
		return pg, err
	}
	for _, pl := range pg.Pools {
		if len(pg.PoolIDs) == 0 || pg.PoolIDs[len(pg.PoolIDs)-1].Pool != pl.Pool {
			pg.PoolIDs = append(pg.PoolIDs, pl)
		}
	}
	from, to := h.b.Years()
	for y := from; y <= to; y++ {
		pg.Years = append(pg.Years, y)
	}
	if pg.Offers, err = h.svc.Offers(ctx, actor(r, p), ""); err != nil {
		return pg, err
	}
	if len(pg.Offers) > 50 {
		pg.Offers = pg.Offers[:50]
	}
	return pg, nil
}

// poolLines reads every annual pool's budget (the bundle's) and what is
// left of it (the ledger's).
func (h *handlers) poolLines(r *http.Request) ([]poolLine, error) {
	var out []poolLine
	from, to := h.b.Years()
	for _, pl := range h.b.Pools {
		for y := from; y <= to; y++ {
			on, _ := policy.ParseDate(strconv.Itoa(y) + "-12-31")
			if on > h.b.InForce.Until {
				on = h.b.InForce.Until
			}
			v, ok := pl.Annual.At(on)
			if !ok {
				continue
			}
			line := poolLine{Pool: pl.ID, Name: policy.Hans(pl.Name), Article: pl.Article, Year: y, Budget: v.Rat.Floor()}
			left, err := h.svc.Ledger().PoolRemaining(r.Context(), pl.ID, y)
			switch {
			case err == nil:
				line.Remaining, line.Funded = left, true
			case isLedgerNotFound(err):
			default:
				return nil, err
			}
			out = append(out, line)
		}
	}
	return out, nil
}

func (h *handlers) adminHome(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg, err := h.adminData(w, r, p)
	if err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-admin", pg)
}

func (h *handlers) openRound(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	rd, err := h.svc.OpenRound(r.Context(), actor(r, p), f.Get("name"), f["items"], f.Get("opens"), f.Get("closes"))
	if err != nil {
		return h.done(w, r, "/admin", "", err)
	}
	return h.done(w, r, "/admin", "已开启申报批次「"+rd.Name+"」（"+rd.Opens+" 至 "+rd.Closes+"）", nil)
}

func (h *handlers) fundPools(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ps, err := h.svc.FundPools(r.Context(), actor(r, p))
	return h.done(w, r, "/admin", "年度预算已拨入（已拨入的年度不重复拨入），共 "+strconv.Itoa(len(ps))+" 个资金池年度", err)
}

// prorata computes (or applies) a pro-rata round and shows the result on
// the admin page.
func (h *handlers) prorata(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	year, _ := strconv.Atoi(f.Get("year"))
	pr, err := h.svc.ProRata(r.Context(), actor(r, p), f.Get("round_id"), f.Get("pool"), year, f.Get("apply") == "yes")
	return h.adminResult(w, r, p, err, func(pg *adminPage) { pg.ProRata = pr })
}

// adminResult shows the admin page with a result, or with the refusal.
func (h *handlers) adminResult(w http.ResponseWriter, r *http.Request, p auth.Principal, err error, set func(*adminPage)) error {
	status := http.StatusOK
	var fail *web.ErrorBody
	if err != nil {
		body, st, shown := web.Describe(err)
		if !shown {
			return err
		}
		status, fail = st, &body
	}
	pg, derr := h.adminData(w, r, p)
	if derr != nil {
		return derr
	}
	pg.Error = fail
	if err == nil {
		set(&pg)
	}
	return h.srv.Render(w, r, status, "p-admin", pg)
}

func (h *handlers) importOffers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseMultipart(w, r); err != nil {
		return err
	}
	var rep desk.ImportReport
	err := func() error {
		if r.MultipartForm == nil || len(r.MultipartForm.File["file"]) == 0 {
			return apperr.New(apperr.Invalid, "请选择名单文件（.csv 或 .xlsx）", "choose a file").WithField("file")
		}
		fh := r.MultipartForm.File["file"][0]
		f, err := fh.Open()
		if err != nil {
			return err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, desk.MaxTableBytes+1))
		if err != nil {
			return err
		}
		rows, err := desk.ReadTable(data, fh.Filename)
		if err != nil {
			return err
		}
		rep, err = h.svc.ImportOffers(r.Context(), actor(r, p), r.FormValue("item"), r.FormValue("source"), rows)
		return err
	}()
	return h.adminResult(w, r, p, err, func(pg *adminPage) { pg.Import = &rep })
}

type usersPage struct {
	base
	Users []auth.User
	Roles []auth.Role
	Depts []option
}

type option struct{ Value, Label string }

func (h *handlers) usersPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	us, err := h.users.Users(r.Context(), "")
	if err != nil {
		return err
	}
	pg := usersPage{base: h.base(w, r, p, "用户管理", "desk"), Users: us, Roles: auth.Roles()}
	for _, d := range h.b.Departments {
		pg.Depts = append(pg.Depts, option{d.ID, h.srv.DeptName(d.ID)})
	}
	return h.srv.Render(w, r, http.StatusOK, "p-users", pg)
}

func (h *handlers) addUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	role := auth.Role(f.Get("role"))
	u := auth.User{Login: f.Get("login"), Name: f.Get("name"), Role: role}
	switch role {
	case auth.RoleEnterprise, auth.RoleProvider:
		u.Enterprise = strings.TrimSpace(f.Get("enterprise"))
	case auth.RoleReviewer:
		u.Department = f.Get("department")
	}
	nu, err := h.users.AddUser(r.Context(), nil, u, f.Get("password"))
	return h.done(w, r, "/admin/users", "已新建用户 "+nu.Login, err)
}

func (h *handlers) setDisabled(disabled bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		id := r.PathValue("id")
		if disabled && id == p.UserID {
			return h.done(w, r, "/admin/users", "", apperr.New(apperr.Conflict, "不能停用自己的账号", "you cannot disable yourself"))
		}
		err := h.users.SetDisabled(r.Context(), nil, id, disabled)
		msg := "已启用用户"
		if disabled {
			msg = "已停用用户并结束其全部会话"
		}
		return h.done(w, r, "/admin/users", msg, err)
	}
}

type auditPage struct {
	base
	Rows   []audit.Row
	Filter audit.Filter
	Verify *audit.Report
	Offset int
	Next   int
	More   bool
}

func (h *handlers) auditPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := audit.Filter{Entity: q.Get("entity"), EntityID: q.Get("entity_id"), Enterprise: q.Get("enterprise"), ActorID: q.Get("actor"), Action: q.Get("action"), Limit: 101}
	if n, err := strconv.Atoi(q.Get("offset")); err == nil && n > 0 {
		f.Offset = n
	}
	rows, err := h.svc.AuditLog(r.Context(), actor(r, p), f)
	if err != nil {
		return err
	}
	pg := auditPage{base: h.base(w, r, p, "审计日志", "desk"), Filter: f, Offset: f.Offset, Next: f.Offset + 100}
	if len(rows) > 100 {
		rows, pg.More = rows[:100], true
	}
	pg.Rows = rows
	if q.Get("verify") == "1" {
		rep, err := h.svc.VerifyAudit(r.Context(), actor(r, p))
		if err != nil {
			return err
		}
		pg.Verify = &rep
	}
	return h.srv.Render(w, r, http.StatusOK, "p-audit", pg)
}
