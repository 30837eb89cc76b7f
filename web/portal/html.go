package portal

import (
	"html"
	"html/template"
	"policydesk/policy"
	"strings"
	"sync"

	"policydesk/web"
)

// The application lists are the busiest pages. html/template calls an
// escaper through reflection for every value it writes (about a
// microsecond each), which for a list of rows, options and tabs is most of
// the page's cost; so their repeated parts are written here, escaped with
// html.EscapeString, and placed in the page as template.HTML.

// columns says which columns a list shows.
type columns struct {
	Pick      bool // a checkbox named ids
	USCC      bool
	Submitted bool
	Updated   bool
}

// rowsHTML writes the rows of an application list.
func rowsHTML(rows []appRow, c columns) template.HTML {
	var b strings.Builder
	b.Grow(len(rows) * 600)
	e := html.EscapeString
	for _, r := range rows {
		id := e(r.ID)
		b.WriteString("<tr>")
		if c.Pick {
			b.WriteString(`<td><input type="checkbox" name="ids" value="` + id + `" aria-label="选择 ` + id + `"></td>`)
		}
		b.WriteString(`<td><a href="/applications/` + id + `"><code>` + id + `</code></a></td>`)
		if c.USCC {
			b.WriteString(`<td>`)
			if r.EntName != "" {
				b.WriteString(e(r.EntName) + `<br>`)
			}
			b.WriteString(`<code>` + e(r.USCC) + `</code></td>`)
		}
		b.WriteString(`<td>` + e(r.ItemName) + `<br><small class="muted">` + e(r.Article))
		if r.Review {
			b.WriteString(` · 需评审`)
		}
		b.WriteString(`</small></td><td><span class="state ` + e(r.StateClass) + `">` + e(r.StateName) + `</span></td>`)
		b.WriteString(`<td class="num">` + e(r.Amount) + `</td>`)
		if c.Submitted {
			b.WriteString(`<td>` + e(r.Submitted) + `</td>`)
		}
		if c.Updated {
			b.WriteString(`<td>` + e(r.Updated) + `</td>`)
		}
		b.WriteString("</tr>\n")
	}
	return template.HTML(b.String())
}

// optionsHTML writes the options of a select.
func optionsHTML(opts []opt) template.HTML {
	var b strings.Builder
	for _, o := range opts {
		b.WriteString(`<option value="` + html.EscapeString(o.Value) + `"`)
		if o.Selected {
			b.WriteString(` selected`)
		}
		b.WriteString(`>` + html.EscapeString(o.Label) + `</option>`)
	}
	return template.HTML(b.String())
}

// tabsHTML writes links to prefix?state=VALUE, the current one marked.
func tabsHTML(tabs []opt, prefix string) template.HTML {
	var b strings.Builder
	for _, t := range tabs {
		b.WriteString(`<li><a href="` + html.EscapeString(prefix) + `?state=` + html.EscapeString(t.Value) + `"`)
		if t.Selected {
			b.WriteString(` aria-current="page"`)
		}
		b.WriteString(`>` + html.EscapeString(t.Label) + `</a></li>`)
	}
	return template.HTML(b.String())
}

// chromeCache keeps the layout around a page — the header with the user's
// name and the workbench's navigation, and the footer — rendered once for
// each combination of what it shows (the page's title and section, the
// user, the demo and no-admin notices), since it is the same on every view
// of a list by the same person.
type chromeCache struct {
	mu sync.Mutex
	m  map[web.Page]chromeParts
}

type chromeParts struct{ head, foot template.HTML }

// maxChromes bounds the cache; past it, it starts again.
const maxChromes = 4096

func (c *chromeCache) get(srv *web.Server, pg web.Page) (chromeParts, error) {
	pg.RequestID = "" // the only field that differs on every request; the layout does not show it
	c.mu.Lock()
	parts, ok := c.m[pg]
	c.mu.Unlock()
	if ok {
		return parts, nil
	}
	lang := policy.Chinese
	if pg.English {
		lang = policy.English
	}
	head, err := srv.FragmentIn(lang, "p-head", pg)
	if err != nil {
		return parts, err
	}
	foot, err := srv.FragmentIn(lang, "bottom", pg)
	if err != nil {
		return parts, err
	}
	parts = chromeParts{head: head, foot: foot}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxChromes {
		c.m = map[web.Page]chromeParts{}
	}
	c.m[pg] = parts
	c.mu.Unlock()
	return parts, nil
}
