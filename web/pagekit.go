package web

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"policydesk/auth"
	"policydesk/policy"
)

// What other packages need to add pages of their own (the workflow's
// portal, web/portal): the layout's data, rendering inside the layout, the
// policy's items and facts as form fields, and the mapping of errors to
// what a person reads. Their routes go through Handle like any other, so
// the route table decides who may call them.

// Page is what the layout needs on every page. Page packages embed it in
// their page data.
type Page = pageData

// ItemInfo is a 支持事项 as pages show it: names, departments, facts as
// form fields (FactViews), materials and parameters.
type ItemInfo = itemView

// FactField is a fact as a form field, for the layout's "field" template.
type FactField = factView

// Page returns the layout's data for a page.
func (s *Server) Page(r *http.Request, p auth.Principal, title, nav string) Page {
	return s.page(r, p, title, nav)
}

// Render writes the template name, buffered, with status. A template
// error is returned before anything is written. The answer carries its
// length, so it goes out without chunked encoding.
func (s *Server) Render(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	buf := renderBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			renderBufs.Put(buf)
		}
	}()
	lang := LangOf(r.Context())
	if err := s.set(lang).ExecuteTemplate(buf, name, data); err != nil {
		return err
	}
	out := buf.Bytes()
	if lang == policy.English {
		out = s.dict.translatePage(out)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, err := w.Write(out)
	return err
}

// Fragment renders the template name into HTML for a page to place, so
// that a part many pages show alike is rendered once.
func (s *Server) Fragment(name string, data any) (template.HTML, error) {
	return s.FragmentIn(policy.Chinese, name, data)
}

// FragmentIn is Fragment in a language.
func (s *Server) FragmentIn(lang Lang, name string, data any) (template.HTML, error) {
	var buf bytes.Buffer
	if err := s.set(lang).ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}

// renderBufs are the buffers pages are rendered into, reused.
var renderBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// AddTemplates parses more page templates into the server's set, so they
// can use the layout ("top", "bottom", "field") and its functions, with
// funcs added. Call it before the server takes traffic.
func (s *Server) AddTemplates(fsys fs.FS, funcs template.FuncMap, patterns ...string) error {
	return s.AddTemplatesLang(fsys, funcs, nil, patterns...)
}

// AddTemplatesLang is AddTemplates with funcs for the English pages:
// en's functions replace funcs' of the same name there.
func (s *Server) AddTemplatesLang(fsys fs.FS, funcs, en template.FuncMap, patterns ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.pages
	if funcs != nil {
		t = t.Funcs(funcs)
	}
	t, err := t.ParseFS(fsys, patterns...)
	if err != nil {
		return err
	}
	te := s.pagesEn
	if funcs != nil {
		te = te.Funcs(funcs)
	}
	if en != nil {
		te = te.Funcs(en)
	}
	if err := s.parseEnglish(te, fsys, patterns...); err != nil {
		return err
	}
	s.pages, s.pagesEn = t, te
	return nil
}

// Tr gives the English of an interface phrase on an English page.
func (s *Server) Tr(r *http.Request, zh string) string { return s.T(LangOf(r.Context()), zh) }

// Item returns the item with id as pages show it, or nil.
func (s *Server) Item(id string) *ItemInfo { return s.cat.item(id) }

// Items returns the policy's items in order.
func (s *Server) Items() []*ItemInfo { return s.cat.items }

// EnterpriseFields returns the enterprise facts as form fields (named
// ent.NAME).
func (s *Server) EnterpriseFields() []*FactField { return s.cat.entFacts }

// DeptName returns a department's name in Simplified Chinese.
func (s *Server) DeptName(id string) string { return s.cat.deptName(id) }

// DeptNameEn returns a department's name in English (Chinese when the
// bundle gives none).
func (s *Server) DeptNameEn(id string) string { return s.cat.deptNameEn(id) }

// FactLabel names a fact of the item (or of the enterprise) for people.
func (s *Server) FactLabel(item *ItemInfo, name string) string { return s.factLabel(item, name) }

// Goals is the text of the policy's 总体目标.
func (s *Server) Goals() string { return s.cat.goals }

// Policy is the whole policy in Simplified Chinese.
func (s *Server) Policy() PolicyDoc { return s.cat.doc }

// FormFact reads one fact from a posted form as the JSON value a claim
// holds (money normalised to plain yuan, records row by row); ok is false
// when the field was left empty.
func FormFact(f *FactField, vals url.Values) (any, bool) { return formValue(f, vals, f.Field) }

// Describe says what a person should read about err: the refusal's body,
// or ok false for an internal failure, which pages must not show.
func Describe(err error) (body ErrorBody, status int, ok bool) {
	status, body, internal := classify(err)
	return body, status, !internal
}

// StatusLabel names an engine status in Chinese (符合条件…).
func StatusLabel(st string) string { return statusLabel(policy.Status(st)) }
