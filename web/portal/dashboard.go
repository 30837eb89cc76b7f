package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/xuri/excelize/v2"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/policy"
)

// Dashboard is GET /api/v1/dashboard: what the platform knows about the
// policy's progress, the data of every chart of the dashboard page.
// Amounts are fen (integers) with a yuan text beside them; days are
// decimals for display.
type Dashboard struct {
	AsOf        string       `json:"as_of" doc:"YYYY-MM-DD (Beijing)"`
	Goals       []Goal       `json:"goals"`
	Pools       []PoolBurn   `json:"pools"`
	ByArticle   []MoneyLine  `json:"by_article"`
	ByDept      []MoneyLine  `json:"by_department"`
	Funnel      []Stage      `json:"funnel"`
	Cycle       CycleTime    `json:"cycle"`
	Offers      OfferShare   `json:"offers"`
	Totals      Totals       `json:"totals"`
	Unmeasured  []string     `json:"unmeasured" doc:"what the platform does not measure"`
	GeneratedAt time.Time    `json:"generated_at"`
	Charts      []ChartIndex `json:"charts"`
}

// Goal is one of the 2026 goals of 总体目标 with what the platform knows.
type Goal struct {
	Key      string `json:"key"`
	Label    string `json:"label"`
	Target   int64  `json:"target"`
	Unit     string `json:"unit"`
	Value    *int64 `json:"value" doc:"null: not measured by the platform"`
	Measured bool   `json:"measured"`
	Basis    string `json:"basis" doc:"how the value is counted"`
}

// PoolBurn is one pool's years: budget, what is committed and paid, and
// the burn-down of what is left.
type PoolBurn struct {
	Pool  string     `json:"pool"`
	Name  string     `json:"name"`
	Years []PoolYear `json:"years"`
}

// PoolYear is one annual pool.
type PoolYear struct {
	Year          int         `json:"year"`
	BudgetFen     int64       `json:"budget_fen"`
	CommittedFen  int64       `json:"committed_fen" doc:"held by applications: proposed to paid, net of clawbacks"`
	PaidFen       int64       `json:"paid_fen"`
	RemainingFen  int64       `json:"remaining_fen" doc:"the ledger's remaining balance"`
	Remaining     string      `json:"remaining" doc:"yuan"`
	Funded        bool        `json:"funded"`
	BurnDown      []BurnPoint `json:"burn_down" doc:"what is left after each day's new commitments"`
	LedgerMatches bool        `json:"ledger_matches" doc:"budget − committed equals the ledger's balance"`
}

// BurnPoint is what was left of a pool at the end of a day.
type BurnPoint struct {
	Date         string `json:"date"`
	RemainingFen int64  `json:"remaining_fen"`
}

// MoneyLine is money by article or by department.
type MoneyLine struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	PaidFen     int64  `json:"paid_fen" doc:"paid, net of clawbacks"`
	ApprovedFen int64  `json:"approved_fen" doc:"approved, waiting for payment"`
	ProposedFen int64  `json:"proposed_fen" doc:"proposed or on 公示"`
	Count       int    `json:"count"`
}

// Stage is one step of the application funnel: how many applications
// ever reached it.
type Stage struct {
	State string `json:"state"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// CycleTime is submit → paid in days over the paid applications.
type CycleTime struct {
	Count        int       `json:"count"`
	MedianDays   float64   `json:"median_days"`
	P90Days      float64   `json:"p90_days"`
	MeanDays     float64   `json:"mean_days"`
	BaselineDays float64   `json:"baseline_days" doc:"the zone's reported average today"`
	Buckets      []Bucket  `json:"buckets"`
	Days         []float64 `json:"-"`
}

// Bucket is a bar of the cycle-time histogram: [From, To) days.
type Bucket struct {
	Label string `json:"label"`
	From  int    `json:"from"`
	To    int    `json:"to"`
	Count int    `json:"count"`
}

// OfferShare is how much of the work is 免申即享 (no form).
type OfferShare struct {
	Applications int    `json:"applications" doc:"submitted applications"`
	FromOffers   int    `json:"from_offers"`
	GrantedFen   int64  `json:"granted_fen"`
	OffersFen    int64  `json:"offers_fen"`
	Share        string `json:"share" doc:"from_offers / applications, percent"`
	OpenOffers   int    `json:"open_offers"`
}

// Totals are the headline figures.
type Totals struct {
	Applications int   `json:"applications"`
	Enterprises  int   `json:"enterprises" doc:"enterprises that applied"`
	GrantedFen   int64 `json:"granted_fen" doc:"approved and paid, net of clawbacks"`
	PaidFen      int64 `json:"paid_fen"`
}

// ChartIndex names a chart and its .xlsx download.
type ChartIndex struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	XLSX  string `json:"xlsx"`
}

// BaselineDays is the zone's reported average cycle time (submit → paid)
// before the platform.
const BaselineDays = 17.8

var charts = []ChartIndex{
	{Name: "goals", Title: "2026 年目标进度"},
	{Name: "pools", Title: "资金池年度消耗"},
	{Name: "articles", Title: "按条款的支持资金"},
	{Name: "departments", Title: "按责任部门的支持资金"},
	{Name: "funnel", Title: "申请漏斗"},
	{Name: "cycle", Title: "办理周期（提交→拨付）"},
	{Name: "offers", Title: "免申即享占比"},
}

// dashCache keeps the figures for a short while: the dashboard reads every
// application, and the page may be opened by many at once. When the
// figures are older than ttl, the first request starts one recomputation
// in the background and every request meanwhile gets the previous figures,
// so that no request waits for it (no stampede). A ttl < 0 computes on
// every request.
type dashCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	cur     *dashEntry
	at      time.Time
	running bool
	first   sync.Mutex // held by the computation of the first figures
}

// dashEntry is the figures, their JSON and the page's body, made once for
// every leader who opens the dashboard until the next refresh.
type dashEntry struct {
	d    *Dashboard
	json []byte
	body template.HTML
	// The English body is made on the first English view of these
	// figures, not with every refresh.
	enOnce sync.Once
	bodyEn template.HTML
	enErr  error
}

// dashboardBody renders the page's body: the figures and, for the charts,
// their JSON in data-dashboard.
func (h *handlers) dashboardBody(lang policy.Lang, d *Dashboard, data []byte) (template.HTML, error) {
	db := dashBody{D: d, Data: template.HTMLAttr(`data-dashboard="` + html.EscapeString(string(data)) + `"`)}
	return h.srv.FragmentIn(lang, "p-dashboard-body", db)
}

func (h *handlers) bodyFor(e *dashEntry, english bool) (template.HTML, error) {
	if !english {
		return e.body, nil
	}
	e.enOnce.Do(func() {
		data, err := h.srv.TranslateJSON(e.json)
		if err == nil {
			e.bodyEn, err = h.dashboardBody(policy.English, e.d, data)
		}
		e.enErr = err
	})
	return e.bodyEn, e.enErr
}

// dashBody is what the body of the dashboard page shows.
type dashBody struct {
	D    *Dashboard
	Data template.HTMLAttr // data-dashboard="…"
}

func (c *dashCache) get(ctx context.Context, build func(context.Context) (*dashEntry, error)) (*dashEntry, error) {
	if c.ttl < 0 {
		return build(ctx)
	}
	c.mu.Lock()
	cur, fresh := c.cur, time.Since(c.at) < c.ttl
	if cur != nil && !fresh && !c.running {
		c.running = true
		go func() {
			e, err := build(context.WithoutCancel(ctx))
			c.mu.Lock()
			defer c.mu.Unlock()
			c.running = false
			if err == nil {
				c.cur, c.at = e, time.Now()
			}
		}()
	}
	c.mu.Unlock()
	if cur != nil {
		return cur, nil
	}
	c.first.Lock()
	defer c.first.Unlock()
	c.mu.Lock()
	cur = c.cur
	c.mu.Unlock()
	if cur != nil {
		return cur, nil
	}
	e, err := build(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.cur == nil {
		c.cur, c.at = e, time.Now()
	}
	c.mu.Unlock()
	return e, nil
}

// dashboard returns the figures. Only admins and finance reach it; both
// see every application through the service, so one copy serves both.
func (h *handlers) dashboard(r *http.Request, p auth.Principal) (*dashEntry, error) {
	a := actor(r, p)
	return h.dash.get(r.Context(), func(ctx context.Context) (*dashEntry, error) {
		d, err := h.computeDashboard(ctx, a)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		body, err := h.dashboardBody(policy.Chinese, d, data)
		if err != nil {
			return nil, err
		}
		return &dashEntry{d: d, json: data, body: body}, nil
	})
}

var (
	goalScenes = regexp.MustCompile(`应用场景(\d+)个`)
	goalCore   = regexp.MustCompile(`核心企业(\d+)家`)
	goalScale  = regexp.MustCompile(`超过(\d+)亿元`)
)

func (h *handlers) computeDashboard(ctx context.Context, a desk.Actor) (*Dashboard, error) {
	today := h.today()
	d := &Dashboard{AsOf: today.String(), GeneratedAt: h.now().UTC(), Cycle: CycleTime{BaselineDays: BaselineDays}}
	for _, c := range charts {
		c.XLSX = "/api/v1/dashboard/xlsx?chart=" + c.Name
		d.Charts = append(d.Charts, c)
	}
	var apps []desk.Summary
	for off := 0; ; off += 500 {
		page, err := h.svc.ListSummaries(ctx, a, desk.Filter{Limit: 500, Offset: off, WithFacts: true})
		if err != nil {
			return nil, err
		}
		apps = append(apps, page...)
		if len(page) < 500 {
			break
		}
	}
	events, err := h.svc.FirstReached(ctx, a)
	if err != nil {
		return nil, err
	}

	// Money by article and department, the funnel, totals, 免申即享.
	articles := map[int]*MoneyLine{}
	depts := map[string]*MoneyLine{}
	enterprises := map[string]bool{}
	funnelStates := []string{desk.StateSubmitted, desk.StateAccepted, desk.StateProposed, desk.StatePublicized, desk.StateApproved, desk.StatePaid}
	funnel := make([]int, len(funnelStates))
	type held struct {
		item string
		year int
		at   time.Time
		fen  int64
		paid int64
	}
	var holds []held
	benchmark := map[string]bool{}
	for _, app := range apps {
		ev := events[app.ID]
		if app.State == desk.StateDraft {
			continue
		}
		d.Totals.Applications++
		enterprises[app.USCC] = true
		for i, st := range funnelStates {
			if _, ok := ev[st]; ok {
				funnel[i]++
			}
		}
		var paid, approved, proposed int64
		switch app.State {
		case desk.StatePaid, desk.StateClawedBack:
			paid = int64(app.Paid) - int64(app.Clawed)
		case desk.StateApproved, desk.StateBatched:
			approved = int64(app.Approved)
		case desk.StateProposed, desk.StatePublicized, desk.StateObjected:
			proposed = int64(app.Proposed)
		}
		if app.State == desk.StatePaid || app.State == desk.StateClawedBack {
			if sub, ok := ev[desk.StateSubmitted]; ok && app.PaidAt != nil {
				d.Cycle.Days = append(d.Cycle.Days, app.PaidAt.Sub(sub).Hours()/24)
			}
		}
		if app.OfferID != "" {
			d.Offers.FromOffers++
			d.Offers.OffersFen += paid + approved
		}
		d.Offers.GrantedFen += paid + approved
		d.Totals.GrantedFen += paid + approved
		d.Totals.PaidFen += paid
		if paid+approved+proposed > 0 {
			al := articles[app.Article]
			if al == nil {
				al = &MoneyLine{Key: strconv.Itoa(app.Article), Name: policy.ArticleName(app.Article, policy.Chinese)}
				articles[app.Article] = al
			}
			lead := ""
			if len(app.Departments) > 0 {
				lead = app.Departments[0]
			}
			dl := depts[lead]
			if dl == nil {
				dl = &MoneyLine{Key: lead, Name: h.srv.DeptName(lead)}
				depts[lead] = dl
			}
			for _, l := range []*MoneyLine{al, dl} {
				l.PaidFen += paid
				l.ApprovedFen += approved
				l.ProposedFen += proposed
				l.Count++
			}
			if at, ok := ev[desk.StateProposed]; ok {
				holds = append(holds, held{item: app.Item, year: app.Year, at: at, fen: paid + approved + proposed, paid: paid})
			}
			if app.Item == "model_voucher" && paid+approved > 0 && string(app.Facts["scenario"]) == `"benchmark"` {
				benchmark[app.USCC+"/"+string(app.Facts["year"])] = true
			}
		}
	}
	d.Totals.Enterprises = len(enterprises)
	d.Offers.Applications = d.Totals.Applications
	d.Offers.Share = percent(d.Offers.FromOffers, d.Offers.Applications)
	if offers, err := h.svc.Offers(ctx, a, "open"); err == nil {
		d.Offers.OpenOffers = len(offers)
	} else if !apperr.Is(err, apperr.Forbidden) {
		return nil, err
	}
	for i, st := range funnelStates {
		d.Funnel = append(d.Funnel, Stage{State: st, Name: funnelName(st), Count: funnel[i]})
	}
	for _, n := range slices.Sorted(maps.Keys(articles)) {
		d.ByArticle = append(d.ByArticle, *articles[n])
	}
	for _, dep := range h.b.Departments {
		if l := depts[dep.ID]; l != nil {
			d.ByDept = append(d.ByDept, *l)
		}
	}
	if d.ByArticle == nil {
		d.ByArticle = []MoneyLine{}
	}
	if d.ByDept == nil {
		d.ByDept = []MoneyLine{}
	}

	// Cycle time: submit → paid.
	days := d.Cycle.Days
	sort.Float64s(days)
	d.Cycle.Count = len(days)
	if len(days) > 0 {
		var sum float64
		for _, x := range days {
			sum += x
		}
		d.Cycle.MeanDays = round1(sum / float64(len(days)))
		d.Cycle.MedianDays = round1(quantile(days, 0.5))
		d.Cycle.P90Days = round1(quantile(days, 0.9))
	}
	for _, b := range []Bucket{{From: 0, To: 7}, {From: 7, To: 14}, {From: 14, To: 21}, {From: 21, To: 30}, {From: 30, To: 45}, {From: 45, To: 60}, {From: 60, To: 1 << 30}} {
		b.Label = fmt.Sprintf("%d–%d 天", b.From, b.To)
		if b.To == 1<<30 {
			b.Label = fmt.Sprintf("%d 天以上", b.From)
		}
		for _, x := range days {
			if x >= float64(b.From) && x < float64(b.To) {
				b.Count++
			}
		}
		d.Cycle.Buckets = append(d.Cycle.Buckets, b)
	}

	// Pool burn-down: budget less each day's new commitments.
	for _, pl := range h.b.Pools {
		pb := PoolBurn{Pool: pl.ID, Name: policy.Hans(pl.Name)}
		from, to := h.b.Years()
		for y := from; y <= to; y++ {
			on, _ := policy.ParseDate(strconv.Itoa(y) + "-12-31")
			if on > h.b.InForce.Until {
				on = h.b.InForce.Until
			}
			v, ok := pl.Annual.At(on)
			if !ok {
				continue
			}
			py := PoolYear{Year: y, BudgetFen: v.Rat.Floor()}
			left, err := h.svc.Ledger().PoolRemaining(ctx, pl.ID, y)
			if err == nil {
				py.Funded, py.RemainingFen = true, left
			} else if !isLedgerNotFound(err) {
				return nil, err
			}
			daily := map[string]int64{}
			for _, hd := range holds {
				if it := h.b.Item(hd.item); it == nil || it.Pool != pl.ID || hd.year != y {
					continue
				}
				py.CommittedFen += hd.fen
				py.PaidFen += hd.paid
				daily[policy.DateOf(hd.at.In(beijing)).String()] += hd.fen
			}
			rem := py.BudgetFen
			for _, day := range slices.Sorted(maps.Keys(daily)) {
				rem -= daily[day]
				py.BurnDown = append(py.BurnDown, BurnPoint{Date: day, RemainingFen: rem})
			}
			if py.BurnDown == nil {
				py.BurnDown = []BurnPoint{}
			}
			py.LedgerMatches = py.Funded && py.BudgetFen-py.CommittedFen == py.RemainingFen
			py.Remaining = money.Format(py.RemainingFen)
			pb.Years = append(pb.Years, py)
		}
		d.Pools = append(d.Pools, pb)
	}

	// The 2026 goals of 总体目标, with what the platform knows.
	goals := h.srv.Goals()
	if m := goalScenes.FindStringSubmatch(goals); m != nil {
		n := int64(len(benchmark))
		d.Goals = append(d.Goals, Goal{Key: "scenarios", Label: "人工智能标杆应用场景", Target: atoi64(m[1]), Unit: "个", Value: &n, Measured: true,
			Basis: "平台口径（近似）：获模型券支持（已批准或已拨付）的「标杆型示范应用场景」，按企业和年度计；场景的正式认定不在平台内"})
	}
	if m := goalCore.FindStringSubmatch(goals); m != nil {
		yes, _, err := h.svc.AIEnterprises(ctx, a, today.String())
		if err != nil {
			return nil, err
		}
		n := int64(yes)
		d.Goals = append(d.Goals, Goal{Key: "core_enterprises", Label: "人工智能产业链核心企业", Target: atoi64(m[1]), Unit: "家", Value: &n, Measured: true,
			Basis: "平台口径（近似）：平台登记的企业事实中「人工智能企业」为是的企业数；「核心企业」的认定不在平台内"})
	}
	if m := goalScale.FindStringSubmatch(goals); m != nil {
		d.Goals = append(d.Goals, Goal{Key: "industry_scale", Label: "人工智能产业规模", Target: atoi64(m[1]), Unit: "亿元", Measured: false,
			Basis: "平台未测量：产业规模来自统计部门，不在本平台的数据范围内"})
		d.Unmeasured = append(d.Unmeasured, "人工智能产业规模（超过 "+m[1]+" 亿元）：平台不采集企业营收，统计部门口径")
	}
	d.Unmeasured = append(d.Unmeasured, "「标杆应用场景」与「核心企业」的正式认定：平台只给出近似口径")
	return d, nil
}

func isLedgerNotFound(err error) bool {
	var le *ledger.Error
	return errors.As(err, &le) && le.Code == ledger.CodeNotFound
}

func funnelName(st string) string {
	switch st {
	case desk.StateSubmitted:
		return "提交"
	case desk.StateAccepted:
		return "形式审查通过"
	case desk.StateProposed:
		return "拟支持"
	case desk.StatePublicized:
		return "公示"
	case desk.StateApproved:
		return "批准"
	case desk.StatePaid:
		return "拨付"
	}
	return desk.StateName(st)
}

// quantile is the nearest-rank quantile of sorted xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(q*float64(len(xs))+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

func atoi64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

type dashboardPage struct {
	framed
	AsOf string
	Body template.HTML
}

func (h *handlers) dashboardPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	e, err := h.dashboard(r, p)
	if err != nil {
		return err
	}
	fr, err := h.framed(w, r, p, "数据看板", "desk")
	if err != nil {
		return err
	}
	body, err := h.bodyFor(e, fr.English)
	if err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-dashboard", dashboardPage{framed: fr, AsOf: e.d.AsOf, Body: body})
}

func (h *handlers) dashboardJSON(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	e, err := h.dashboard(r, p)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(e.json)))
	_, err = w.Write(e.json)
	return err
}

// dashboardXLSX writes the data of one chart (?chart=NAME) or of all, one
// sheet per chart. Amounts are yuan as exact text.
func (h *handlers) dashboardXLSX(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	name := r.URL.Query().Get("chart")
	if name != "" && !slices.ContainsFunc(charts, func(c ChartIndex) bool { return c.Name == name }) {
		return apperr.New(apperr.Invalid, "未知的图表", "unknown chart").WithField("chart")
	}
	e, err := h.dashboard(r, p)
	if err != nil {
		return err
	}
	d := e.d
	f := excelize.NewFile()
	defer f.Close()
	first := true
	for _, c := range charts {
		if name != "" && c.Name != name {
			continue
		}
		header, rows := chartTable(d, c.Name)
		if first {
			if err := f.SetSheetName("Sheet1", c.Title); err != nil {
				return err
			}
			first = false
		} else if _, err := f.NewSheet(c.Title); err != nil {
			return err
		}
		if err := f.SetSheetRow(c.Title, "A1", &header); err != nil {
			return err
		}
		for i, row := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, i+2)
			if err := f.SetSheetRow(c.Title, cell, &row); err != nil {
				return err
			}
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return err
	}
	file := "数据看板-" + d.AsOf + ".xlsx"
	if name != "" {
		file = "数据看板-" + name + "-" + d.AsOf + ".xlsx"
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": file}))
	_, err = w.Write(buf.Bytes())
	return err
}

func yuanCell(fen int64) string { return money.Format(fen) }

// chartTable is one chart's data as rows of a sheet.
func chartTable(d *Dashboard, name string) ([]any, [][]any) {
	var rows [][]any
	switch name {
	case "goals":
		for _, g := range d.Goals {
			v := any("未测量")
			if g.Value != nil {
				v = *g.Value
			}
			rows = append(rows, []any{g.Label, g.Target, g.Unit, v, g.Basis})
		}
		return []any{"目标", "2026 年目标", "单位", "平台已知", "口径"}, rows
	case "pools":
		for _, pb := range d.Pools {
			for _, y := range pb.Years {
				rows = append(rows, []any{pb.Name, y.Year, "年度预算", yuanCell(y.BudgetFen)})
				for _, pt := range y.BurnDown {
					rows = append(rows, []any{pb.Name, y.Year, pt.Date, yuanCell(pt.RemainingFen)})
				}
				rows = append(rows, []any{pb.Name, y.Year, "台账余额", yuanCell(y.RemainingFen)})
			}
		}
		return []any{"资金池", "年度", "日期", "剩余(元)"}, rows
	case "articles", "departments":
		lines := d.ByArticle
		if name == "departments" {
			lines = d.ByDept
		}
		for _, l := range lines {
			rows = append(rows, []any{l.Name, yuanCell(l.PaidFen), yuanCell(l.ApprovedFen), yuanCell(l.ProposedFen), l.Count})
		}
		return []any{map[bool]string{true: "责任部门（牵头）", false: "条款"}[name == "departments"], "已拨付(元)", "已批准待拨付(元)", "拟支持及公示中(元)", "件数"}, rows
	case "funnel":
		for _, s := range d.Funnel {
			rows = append(rows, []any{s.Name, s.Count})
		}
		return []any{"阶段", "到达该阶段的申请数"}, rows
	case "cycle":
		for _, b := range d.Cycle.Buckets {
			rows = append(rows, []any{b.Label, b.Count})
		}
		rows = append(rows, []any{"中位数(天)", d.Cycle.MedianDays}, []any{"P90(天)", d.Cycle.P90Days}, []any{"平均(天)", d.Cycle.MeanDays},
			[]any{"现状平均(天)", d.Cycle.BaselineDays}, []any{"已拨付件数", d.Cycle.Count})
		return []any{"周期", "件数"}, rows
	case "offers":
		rows = append(rows, []any{"免申即享", d.Offers.FromOffers, yuanCell(d.Offers.OffersFen)},
			[]any{"填报申请", d.Offers.Applications - d.Offers.FromOffers, yuanCell(d.Offers.GrantedFen - d.Offers.OffersFen)},
			[]any{"占比", d.Offers.Share, ""})
		return []any{"方式", "申请数", "批准及拨付(元)"}, rows
	}
	return nil, nil
}
