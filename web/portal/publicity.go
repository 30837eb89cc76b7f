package portal

import (
	"net/http"
	"net/url"

	"policydesk/auth"
	"policydesk/desk"
)

type publicityListPage struct {
	base
	Open, Past []desk.Publicity
}

// publicityList is the public page of 公示: those open now, and past ones.
func (h *handlers) publicityList(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ps, err := h.svc.Publicities(r.Context())
	if err != nil {
		return err
	}
	pg := publicityListPage{base: h.base(w, r, p, "公示", "publicity")}
	t := h.today().String()
	for _, pb := range ps {
		if pb.State == "open" && t <= pb.Ends {
			pg.Open = append(pg.Open, pb)
		} else {
			pg.Past = append(pg.Past, pb)
		}
	}
	return h.srv.Render(w, r, http.StatusOK, "p-publicity-list", pg)
}

type publicityPage struct {
	base
	Pub       *desk.Publicity
	Open      bool // objections accepted
	Total     int64
	Objecting []desk.PublicityItem // entries one may object to
}

func (h *handlers) publicityPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pb, err := h.svc.GetPublicity(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	pg := publicityPage{base: h.base(w, r, p, pb.Title, "publicity"), Pub: pb, Open: pb.State == "open" && h.today().String() <= pb.Ends}
	for _, e := range pb.Entries {
		pg.Total += int64(e.Amount)
		if e.State == desk.StatePublicized || e.State == desk.StateObjected {
			pg.Objecting = append(pg.Objecting, e)
		}
	}
	return h.srv.Render(w, r, http.StatusOK, "p-publicity", pg)
}

// object lodges a named objection from the 公示 page; anyone may, as with
// the API.
func (h *handlers) object(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	back := "/publicity/" + url.PathEscape(r.PathValue("id"))
	f := r.PostForm
	o, err := h.svc.Object(r.Context(), actor(r, p), f.Get("application_id"), f.Get("name"), f.Get("contact"), f.Get("text"))
	if err != nil {
		return h.done(w, r, back, "", err)
	}
	return h.done(w, r, back, "异议已受理（编号 "+o.ID+"），该项目暂停办理，责任部门将核实并答复。", nil)
}
