package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/compute"
	"policydesk/money"
	"policydesk/web"
)

// The pages of 第二条 (国产智算服务器): a purchase contract with its
// breakdown by server is verified against the compute platform — which
// chips are domestic, which servers are listed in the zone long enough and
// serve others — and the enterprise applies with it. The roles are the
// JSON API's (web/computeapi): the parties verify, the enterprise applies.

var (
	// domesticParties are computeapi's parties: the enterprise, the
	// provider and the zone's staff.
	domesticParties = []auth.Role{auth.RoleEnterprise, auth.RoleProvider, auth.RoleReviewer, auth.RoleFinance, auth.RoleAdmin}
	// domesticApplicants may apply (computeapi's enterprise).
	domesticApplicants = []auth.Role{auth.RoleEnterprise}
)

// domesticLines is how many purchase lines the form has.
const domesticLines = 10

// registerDomestic adds the pages of 第二条 to srv.
func (h *computePages) registerDomestic(srv *web.Server) {
	const pg = "pages"
	for _, rt := range []web.Route{
		{Method: "GET", Pattern: "/domestic", Roles: domesticParties, Tag: pg, Summary: "第二条国产算力服务器：采购核验与申报", Handler: h.domestic},
		{Method: "POST", Pattern: "/domestic/verify", Roles: domesticParties, Tag: pg, Summary: "第二条核验：按算力调度平台挂牌核验采购的国产服务器", Handler: h.verifyDomestic},
		{Method: "POST", Pattern: "/domestic/applications", Roles: domesticApplicants, Tag: pg, Summary: "第二条申报：以核验通过的采购合同申请国产算力服务器补贴", Handler: h.applyDomestic},
	} {
		srv.Handle(rt)
	}
}

// domesticLine is one line of the form as typed.
type domesticLine struct {
	N                                    int // 1-based
	Name                                 string
	Vendor, Chip, Servers, Cards, Amount string
	Other                                bool // Vendor is not a name of the vendor list: kept as an extra option
}

type domesticPage struct {
	computeBase
	Vendors  []compute.Vendor
	Lines    []domesticLine
	Result   *compute.Purchase
	Staff    bool // staff name the provider whose purchase they verify
	CanApply bool
}

// Reason names a reason code of a purchase line.
func (domesticPage) Reason(code string, minDays int) string {
	switch code {
	case compute.ReasonNonDomestic:
		return "非国产智算芯片"
	case compute.ReasonNotListed:
		return "未在算力调度平台挂牌"
	case compute.ReasonWithdrawn:
		return "挂牌资源已下架"
	case compute.ReasonNotInZone:
		return "部署地点不在经开区"
	case compute.ReasonTooRecent:
		return fmt.Sprintf("连续挂牌不足 %d 天", minDays)
	case compute.ReasonNotServing:
		return "未对外提供服务（挂牌以来没有其他企业确认的结算记录）"
	case compute.ReasonPartlyListed:
		return "部分服务器符合条件，按比例计入"
	case compute.ReasonUnknownVendor:
		return "芯片厂商不在厂商名录中"
	}
	return code
}

func isStaffRole(r auth.Role) bool {
	return r == auth.RoleAdmin || r == auth.RoleReviewer || r == auth.RoleFinance
}

// domesticData is the page with the form as posted (f may be nil).
func (h *computePages) domesticData(w http.ResponseWriter, r *http.Request, p auth.Principal, f url.Values) (*domesticPage, error) {
	pg := &domesticPage{computeBase: h.cbase(w, r, p, "国产算力服务器（第二条）"), Staff: isStaffRole(p.Role), CanApply: p.Role == auth.RoleEnterprise}
	pg.Form = f
	var err error
	if pg.Vendors, err = h.c.Vendors(r.Context()); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, v := range pg.Vendors {
		names[v.Name] = true
	}
	for i := range domesticLines {
		name := "l" + strconv.Itoa(i)
		l := domesticLine{N: i + 1, Name: name, Vendor: f.Get(name + "_vendor"), Chip: f.Get(name + "_chip"),
			Servers: f.Get(name + "_servers"), Cards: f.Get(name + "_cards"), Amount: f.Get(name + "_amount")}
		l.Other = l.Vendor != "" && !names[l.Vendor]
		pg.Lines = append(pg.Lines, l)
	}
	return pg, nil
}

func (h *computePages) domestic(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg, err := h.domesticData(w, r, p, nil)
	if err != nil {
		return err
	}
	return h.srv.Render(w, r, http.StatusOK, "p-domestic", pg)
}

// purchaseInput reads the purchase of the form; blank lines are left out.
func purchaseInput(f url.Values) (compute.PurchaseInput, error) {
	in := compute.PurchaseInput{Project: f.Get("project"), ContractNo: f.Get("contract_no"), Seller: f.Get("seller"), SignedOn: strings.TrimSpace(f.Get("signed_on"))}
	var err error
	if in.Total, err = yuanField(f, "total"); err != nil {
		return in, err
	}
	for i := range domesticLines {
		name := "l" + strconv.Itoa(i)
		vendor, chip := strings.TrimSpace(f.Get(name+"_vendor")), strings.TrimSpace(f.Get(name+"_chip"))
		servers, cards, amount := strings.TrimSpace(f.Get(name+"_servers")), strings.TrimSpace(f.Get(name+"_cards")), strings.TrimSpace(f.Get(name+"_amount"))
		if vendor == "" && chip == "" && servers == "" && cards == "" && amount == "" {
			continue
		}
		n := i + 1
		l := compute.PurchaseLine{Vendor: vendor, ChipModel: chip}
		if l.Servers, err = intField(f, name+"_servers", fmt.Sprintf("第 %d 项服务器台数", n)); err != nil {
			return in, err
		}
		if l.Cards, err = intField(f, name+"_cards", fmt.Sprintf("第 %d 项卡数", n)); err != nil {
			return in, err
		}
		if amount != "" {
			v, perr := parseYuan(amount, name+"_amount")
			if perr != nil {
				return in, apperr.New(apperr.Invalid, fmt.Sprintf("第 %d 项金额应为元，至多两位小数（如 1500000 或 150万）", n), fmt.Sprintf("line %d: amount in yuan with at most 2 decimals", n)).WithField(name + "_amount")
			}
			l.Amount = money.Amount(v)
		}
		if vendor == "" {
			return in, apperr.New(apperr.Invalid, fmt.Sprintf("第 %d 项请选择芯片厂商", n), fmt.Sprintf("line %d: choose the vendor", n)).WithField(name + "_vendor")
		}
		in.Lines = append(in.Lines, l)
	}
	return in, nil
}

// domesticAgain shows the page with the form as posted, the refusal (if
// any) and the verification (if any).
func (h *computePages) domesticAgain(w http.ResponseWriter, r *http.Request, p auth.Principal, pu *compute.Purchase, err error) error {
	status := http.StatusOK
	var body *web.ErrorBody
	if err != nil {
		var ierr error
		if body, status, ierr = refusal(err); ierr != nil {
			return ierr
		}
	}
	pg, derr := h.domesticData(w, r, p, r.PostForm)
	if derr != nil {
		return derr
	}
	if body != nil {
		body.Message = h.hans.Replace(body.Message)
	}
	pg.Error, pg.Result = body, pu
	return h.srv.Render(w, r, status, "p-domestic", pg)
}

func (h *computePages) verifyDomestic(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in, err := purchaseInput(r.PostForm)
	if err != nil {
		return h.domesticAgain(w, r, p, nil, err)
	}
	ref := ""
	if isStaffRole(p.Role) {
		ref = strings.TrimSpace(r.PostForm.Get("provider"))
	}
	pu, err := h.c.VerifyPurchase(r.Context(), actor(r, p), ref, in)
	if err != nil {
		return h.domesticAgain(w, r, p, nil, err)
	}
	return h.domesticAgain(w, r, p, pu, nil)
}

func (h *computePages) applyDomestic(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in, err := purchaseInput(r.PostForm)
	if err != nil {
		return h.domesticAgain(w, r, p, nil, err)
	}
	pu, err := h.c.ApplyDomesticServers(r.Context(), actor(r, p), in)
	if err != nil {
		return h.domesticAgain(w, r, p, pu, err)
	}
	return h.done(w, r, "/applications/"+url.PathEscape(pu.ApplicationID),
		"已创建第二条申请（核验通过的国产服务器金额 "+fenText(pu.Verified)+"）：请上传材料、签署信用承诺并提交申请", nil)
}
