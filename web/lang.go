package web

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"policydesk/policy"
)

// The pages are in Simplified Chinese; English is a switch (?lang=en, kept
// in a cookie). English pages are made in two steps:
//
//  1. Templates. Every run of Chinese text a template's source holds — in
//     HTML text, in an attribute, in a string literal of an action — is a
//     key of the English catalogue (i18n/*.tsv), and the English template
//     set is parsed from the sources with each run replaced by its English.
//     What a template shows is ours, never user data, so replacing there is
//     safe; a run the catalogue lacks fails TestCatalogueCoversTemplates.
//  2. Labels made in Go (states, roles, the policy's names, flash
//     messages). An English page's text nodes that are, whole, a catalogue
//     key or a bundle name with an English name are replaced. Matching
//     whole nodes leaves user data (an enterprise's name, a reviewer's
//     comment) alone unless it is, entire, a phrase of the interface.
//
// Article texts have no English version; they stay in Chinese.

// Lang is the interface's language.
type Lang = policy.Lang

// LangCookie keeps the chosen language.
const LangCookie = "pd_lang"

//go:embed i18n/*.tsv
var i18nFS embed.FS

// dictionary is the English catalogue: Chinese phrase → English.
type dictionary struct {
	exact    map[string]string
	patterns []pattern // keys with %s/%d: "共 %d 条"
}

type pattern struct {
	re  *regexp.Regexp
	out string // with %s for each capture, in order
	// specific: the key's own text has Chinese ("公示:%s(%s 至 %s)"), so
	// a match is this phrase with data in it, and parts without English
	// (an enterprise's name) stay as they are. A key of punctuation and
	// verbs alone ("%s（%s）") matches only when every part translates.
	specific bool
}

var verb = regexp.MustCompile(`%[sd]`)

// loadDictionary reads every i18n/*.tsv: "中文<TAB>English" a line; "#"
// starts a comment. A key given twice with different English, a line
// without a tab, or English holding a character that would break a
// template ("<>{}\"&\\) is an error naming the file and line.
func loadDictionary(fsys fs.FS) (*dictionary, error) {
	d := &dictionary{exact: map[string]string{}}
	names, err := fs.Glob(fsys, "i18n/*.tsv")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimRight(sc.Text(), "\r")
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "\t")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return nil, fmt.Errorf("%s:%d: want 中文<TAB>English", name, n)
			}
			if strings.ContainsAny(v, "<>{}\"&\\\t") {
				return nil, fmt.Errorf("%s:%d: the English of %q holds one of <>{}\"&\\", name, n, k)
			}
			if old, dup := d.exact[k]; dup && old != v {
				return nil, fmt.Errorf("%s:%d: %q is given twice, as %q and %q", name, n, k, old, v)
			}
			d.exact[k] = v
			if verb.MatchString(k) {
				if len(verb.FindAllString(k, -1)) != len(verb.FindAllString(v, -1)) {
					return nil, fmt.Errorf("%s:%d: %q and %q have different numbers of %%s/%%d", name, n, k, v)
				}
				var re strings.Builder
				re.WriteString("^")
				last := 0
				for _, m := range verb.FindAllStringIndex(k, -1) {
					re.WriteString(regexp.QuoteMeta(k[last:m[0]]))
					if k[m[0]+1] == 'd' {
						re.WriteString(`(-?[0-9][0-9,.]*)`)
					} else {
						re.WriteString(`(.+)`)
					}
					last = m[1]
				}
				re.WriteString(regexp.QuoteMeta(k[last:]) + "$")
				lit := []rune(verb.ReplaceAllString(k, ""))
				han := 0
				for _, r := range lit {
					if unicode.Is(unicode.Han, r) {
						han++
					}
				}
				d.patterns = append(d.patterns, pattern{re: regexp.MustCompile(re.String()), out: verb.ReplaceAllString(v, "%s"), specific: han >= 2})
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return d, nil
}

// add puts a pair the bundle gives (a name and its English name) unless
// the catalogue has the key already.
func (d *dictionary) add(zh, en string) {
	zh, en = strings.TrimSpace(zh), strings.TrimSpace(en)
	if zh == "" || en == "" || !hasHan(zh) {
		return
	}
	if _, ok := d.exact[zh]; !ok {
		d.exact[zh] = en
	}
}

// learned are the English messages of errors described since start
// (classify): an error's Chinese message shown on an English page — in a
// form's error box, in a flash message after a redirect — is replaced by
// the English the error carries. Bounded; past the bound it starts again.
var learned struct {
	sync.RWMutex
	m map[string]string
}

const maxLearned = 20_000

func learn(zh, en string) {
	zh, en = strings.TrimSpace(zh), strings.TrimSpace(en)
	if zh == "" || en == "" || !hasHan(zh) {
		return
	}
	learned.RLock()
	old, ok := learned.m[zh]
	learned.RUnlock()
	if ok && old == en {
		return
	}
	learned.Lock()
	if learned.m == nil || len(learned.m) >= maxLearned {
		learned.m = map[string]string{}
	}
	learned.m[zh] = en
	learned.Unlock()
}

// lookup gives the English of a whole phrase: a catalogue key, an
// error's message, a shape with parts (a pattern key, "第N条 …", "label:
// value", a list joined by 、) whose parts all translate.
func (d *dictionary) lookup(s string) (string, bool) { return d.tr(s, 0) }

var articleRE = regexp.MustCompile(`^第([一二三四五六七八九十]+)条\s*(.*)$`)

func (d *dictionary) tr(s string, depth int) (string, bool) {
	if v, ok := d.exact[s]; ok {
		return v, true
	}
	learned.RLock()
	v, ok := learned.m[s]
	learned.RUnlock()
	if ok {
		return v, true
	}
	if depth > 4 || !hasHan(s) {
		return s, !hasHan(s)
	}
	// A part is translated if it holds no Chinese or has English itself.
	part := func(p string) (string, bool) {
		p = strings.TrimSpace(p)
		if !hasHan(p) {
			return p, true
		}
		return d.tr(p, depth+1)
	}
	for _, p := range d.patterns {
		m := p.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		args := make([]any, len(m)-1)
		all := true
		for i := range args {
			en, ok := part(m[i+1])
			args[i], all = en, all && ok
		}
		if all || p.specific {
			return fmt.Sprintf(p.out, args...), true
		}
	}
	if m := articleRE.FindStringSubmatch(s); m != nil {
		if n := articleNumber(m[1]); n > 0 {
			head := policy.ArticleName(n, policy.English)
			if m[2] == "" {
				return head, true
			}
			if en, ok := part(m[2]); ok {
				return head + " " + en, true
			}
		}
	}
	// "Label:value", "标签：值": the value, and the label when it is
	// Chinese, must translate.
	for _, colon := range []string{":", "："} {
		if i := strings.LastIndex(s, colon); i > 0 {
			head, ok := part(s[:i])
			if !ok {
				continue
			}
			if en, ok := part(s[i+len(colon):]); ok {
				return head + ": " + en, true
			}
		}
	}
	// A phrase and an identifier: "算力券 91110302MA01A001C4".
	if i := strings.LastIndexByte(s, ' '); i > 0 && !hasHan(s[i+1:]) {
		if en, ok := part(s[:i]); ok {
			return en + s[i:], true
		}
	}
	// Lists: "信息技术产业局、经济发展局", "必要性 70，创新性 75",
	// "事项：首挂牌，…；事项：首交易，…".
	for _, sep := range []struct{ zh, en string }{{"；", "; "}, {"，", ", "}, {"、", ", "}} {
		if !strings.Contains(s, sep.zh) {
			continue
		}
		parts := strings.Split(s, sep.zh)
		for i, p := range parts {
			en, ok := part(p)
			if !ok {
				return s, false
			}
			parts[i] = en
		}
		return strings.Join(parts, sep.en), true
	}
	return s, false
}

// articleNumber reads the number of 第N条 (一 … 九十九).
func articleNumber(zh string) int {
	for n := 1; n < 100; n++ {
		if policy.ArticleName(n, policy.Chinese) == "第"+zh+"条" {
			return n
		}
	}
	return 0
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// segment is a run of Chinese text in a template's source.
type segment struct {
	start, end int // byte offsets of the trimmed run
	inAction   bool
}

// templateSegments finds the runs of text in a template's source that a
// translation replaces: in HTML, the text between tags and quotes, split
// at line ends; inside {{…}}, the contents of string literals. Comments
// are skipped. Only runs holding a Chinese character are returned.
func templateSegments(src string) []segment {
	var out []segment
	emit := func(a, b int, inAction bool) {
		for a < b && isSpaceByte(src[a]) {
			a++
		}
		for b > a && isSpaceByte(src[b-1]) {
			b--
		}
		if a < b && hasHan(src[a:b]) {
			out = append(out, segment{a, b, inAction})
		}
	}
	i, start := 0, 0
	for i < len(src) {
		if strings.HasPrefix(src[i:], "{{") {
			emit(start, i, false)
			j := i + 2
			for j < len(src) && !strings.HasPrefix(src[j:], "}}") {
				switch {
				case strings.HasPrefix(src[j:], "/*"):
					k := strings.Index(src[j:], "*/")
					if k < 0 {
						j = len(src)
					} else {
						j += k + 2
					}
					continue
				case src[j] == '"':
					k := j + 1
					for k < len(src) && src[k] != '"' {
						if src[k] == '\\' {
							k++
						}
						k++
					}
					emit(j+1, min(k, len(src)), true)
					j = k + 1
					continue
				case src[j] == '`':
					k := strings.IndexByte(src[j+1:], '`')
					if k < 0 {
						k = len(src) - j - 1
					}
					emit(j+1, j+1+k, true)
					j += k + 2
					continue
				}
				j++
			}
			i = min(j+2, len(src))
			start = i
			continue
		}
		switch src[i] {
		case '<', '>', '"', '\'', '\n':
			emit(start, i, false)
			start = i + 1
		}
		i++
	}
	emit(start, len(src), false)
	return out
}

// inlineTag matches the start of an inline element's tag: words run on
// into it in English ("Use the <a>policy calculator</a> to see").
var inlineTag = regexp.MustCompile(`^</?(a|strong|em|b|i|code|span|small|abbr|time|kbd|mark|q)[\s>]`)

// spaceAround puts back the spaces English needs where a Chinese run
// touches markup or a value: Chinese runs on without spaces ("可用<a>政策
// 计算器</a>查看", "共 {{.N}} 条" is spaced already), and the catalogue's
// English is trimmed.
func spaceAround(src string, sg segment, en string) string {
	if en == "" || sg.inAction {
		return en
	}
	wordEnd := func(s string) bool {
		r, _ := utf8.DecodeLastRuneInString(s)
		return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(":,;.)”’%", r)
	}
	wordStart := func(s string) bool {
		r, _ := utf8.DecodeRuneInString(s)
		return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("(“", r)
	}
	if sg.end < len(src) {
		next := src[sg.end:]
		// Before a value or an inline element that continues the sentence.
		if (strings.HasPrefix(next, "{{") && !strings.HasPrefix(next, "{{end") && !strings.HasPrefix(next, "{{else") && !strings.HasPrefix(next, "{{-")) ||
			(next[0] == '<' && inlineTag.MatchString(next) && !strings.HasPrefix(next, "</")) {
			if wordEnd(en) {
				en += " "
			}
		}
	}
	if sg.start > 0 {
		prev := src[:sg.start]
		after := false
		switch {
		case strings.HasSuffix(prev, "}}") && !strings.HasSuffix(prev, "end}}") && !strings.HasSuffix(prev, "else}}"):
			after = !strings.HasSuffix(prev, "-}}")
			// an action that opens a block ({{if …}}, {{range …}}, {{with …}}) prints nothing
			if i := strings.LastIndex(prev, "{{"); i >= 0 {
				act := strings.TrimLeft(prev[i+2:], "- ")
				for _, kw := range []string{"if ", "range ", "with ", "define ", "block ", "template ", "/*"} {
					if strings.HasPrefix(act, kw) {
						after = false
					}
				}
			}
		case strings.HasSuffix(prev, ">"):
			if i := strings.LastIndex(prev, "<"); i >= 0 && strings.HasPrefix(prev[i:], "</") && inlineTag.MatchString(prev[i:]) {
				after = true
			}
		}
		if after && wordStart(en) {
			en = " " + en
		}
	}
	return en
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// translateSource replaces each Chinese run of a template's source by its
// English; missing lists the runs the catalogue lacks (left as they are).
func (d *dictionary) translateSource(src string) (out string, missing []string) {
	segs := templateSegments(src)
	var b strings.Builder
	last := 0
	for _, sg := range segs {
		key := src[sg.start:sg.end]
		en, ok := d.exact[key]
		if !ok {
			missing = append(missing, key)
			continue
		}
		b.WriteString(src[last:sg.start])
		en = spaceAround(src, sg, en)
		if !sg.inAction {
			en = html.EscapeString(en)
			en = strings.ReplaceAll(en, "&#39;", "’")
		}
		b.WriteString(en)
		last = sg.end
	}
	b.WriteString(src[last:])
	return b.String(), missing
}

// attrsToTranslate are the attributes whose values people read.
var attrsToTranslate = []string{`title="`, `aria-label="`, `placeholder="`, `alt="`, `data-confirm="`}

// translatePage replaces, in a rendered English page, each text node (and
// readable attribute) that is whole a catalogue phrase. Script and style
// contents are left alone.
func (d *dictionary) translatePage(page []byte) []byte {
	if !utf8.Valid(page) {
		return page
	}
	src := string(page)
	var b strings.Builder
	b.Grow(len(src) + len(src)/8)
	i := 0
	for i < len(src) {
		lt := strings.IndexByte(src[i:], '<')
		if lt < 0 {
			b.WriteString(d.node(src[i:]))
			break
		}
		b.WriteString(d.node(src[i : i+lt]))
		i += lt
		gt := strings.IndexByte(src[i:], '>')
		if gt < 0 {
			b.WriteString(src[i:])
			break
		}
		tag := src[i : i+gt+1]
		b.WriteString(d.attrs(tag))
		i += gt + 1
		lower := strings.ToLower(tag)
		for _, raw := range []string{"<script", "<style", "<textarea"} {
			if strings.HasPrefix(lower, raw) {
				closing := "</" + raw[1:]
				k := strings.Index(strings.ToLower(src[i:]), closing)
				if k < 0 {
					k = len(src) - i
				}
				b.WriteString(src[i : i+k])
				i += k
				break
			}
		}
	}
	return []byte(b.String())
}

// fullWidth writes Chinese punctuation the English way, in text nodes
// that hold no Chinese (English made from fragments: "（", "；", "。").
var fullWidth = strings.NewReplacer("（", " (", "）", ")", "；", "; ", "。", ". ", "，", ", ", "：", ": ", "、", ", ", "「", "“", "」", "”")

// node translates one text node when it is, trimmed, a phrase.
func (d *dictionary) node(text string) string {
	if !hasHan(text) {
		if strings.ContainsAny(text, "（）；。，：、「」") {
			return fullWidth.Replace(text)
		}
		return text
	}
	a, z := 0, len(text)
	for a < z && isSpaceByte(text[a]) {
		a++
	}
	for z > a && isSpaceByte(text[z-1]) {
		z--
	}
	core := html.UnescapeString(text[a:z])
	if en, ok := d.lookup(core); ok {
		return text[:a] + html.EscapeString(en) + text[z:]
	}
	// Decorations around a phrase: "· 已提交", "信息技术产业局 ·".
	pre, post := "", ""
	for _, dec := range []string{"· ", "/ ", "（", "("} {
		if c, ok := strings.CutPrefix(core, dec); ok {
			pre, core = dec, c
			break
		}
	}
	for _, dec := range []string{" ·", "）", ")", "：", ":"} {
		if c, ok := strings.CutSuffix(core, dec); ok {
			post, core = dec, c
			break
		}
	}
	en, ok := d.lookup(core)
	if !ok {
		return text
	}
	if post == "：" {
		post = ":"
	}
	return text[:a] + html.EscapeString(pre+en+post) + text[z:]
}

func (d *dictionary) attrs(tag string) string {
	if !hasHan(tag) {
		return tag
	}
	for _, a := range attrsToTranslate {
		k := strings.Index(tag, a)
		if k < 0 || (k > 0 && tag[k-1] != ' ') {
			continue
		}
		v0 := k + len(a)
		v1 := strings.IndexByte(tag[v0:], '"')
		if v1 < 0 {
			continue
		}
		v := html.UnescapeString(tag[v0 : v0+v1])
		if en, ok := d.lookup(strings.TrimSpace(v)); ok {
			tag = tag[:v0] + html.EscapeString(en) + tag[v0+v1:]
		}
	}
	return tag
}

// addBundleTerms puts the policy's names with English names (items,
// departments, pools, materials, facts) into the catalogue.
func (d *dictionary) addBundleTerms(doc *PolicyDoc) {
	d.add(doc.Title, doc.TitleEn)
	for _, dp := range doc.Departments {
		d.add(dp.Name, dp.NameEn)
	}
	for _, p := range doc.Pools {
		d.add(p.Name, p.NameEn)
	}
	var facts func([]FactDoc)
	facts = func(fs []FactDoc) {
		for _, f := range fs {
			d.add(f.Label, f.LabelEn)
			// Enum labels have no English in the bundle: their values
			// (inference, major_administrative…) read as English.
			for i, l := range f.Labels {
				if i < len(f.Values) {
					d.add(l, humanize(f.Values[i]))
				}
			}
			facts(f.Fields)
		}
	}
	facts(doc.EnterpriseFacts)
	for _, it := range doc.Items {
		d.add(it.Name, it.NameEn)
		facts(it.Facts)
		for _, m := range it.Materials {
			d.add(m.Name, m.NameEn)
		}
	}
}

// T gives the English of a phrase of the interface when lang is English,
// else the phrase.
func (s *Server) T(lang Lang, zh string) string {
	if lang != policy.English {
		return zh
	}
	if en, ok := s.dict.lookup(zh); ok {
		return en
	}
	return zh
}

// LangOf is the language of the request's pages.
func LangOf(ctx context.Context) Lang {
	if st := stateOf(ctx); st != nil && st.lang == policy.English {
		return policy.English
	}
	return policy.Chinese
}

// chooseLang reads ?lang= (and keeps it in a cookie) or the cookie.
func (s *Server) chooseLang(w http.ResponseWriter, r *http.Request) Lang {
	if q := r.URL.Query().Get("lang"); q == "en" || q == "zh" {
		http.SetCookie(w, &http.Cookie{
			Name: LangCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
			Secure: s.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
		if q == "en" {
			return policy.English
		}
		return policy.Chinese
	}
	if c, err := r.Cookie(LangCookie); err == nil && c.Value == "en" {
		return policy.English
	}
	return policy.Chinese
}

// parseEnglish parses the English versions of the templates matching
// patterns in fsys into t.
func (s *Server) parseEnglish(t *template.Template, fsys fs.FS, patterns ...string) error {
	for _, pat := range patterns {
		names, err := fs.Glob(fsys, pat)
		if err != nil {
			return err
		}
		for _, name := range names {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			en, missing := s.dict.translateSource(string(b))
			s.missing = append(s.missing, missingIn(name, missing)...)
			if _, err := t.New(path.Base(name)).Parse(en); err != nil {
				return fmt.Errorf("web: English %s: %w", name, err)
			}
		}
	}
	return nil
}

func missingIn(file string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = file + "\t" + k
	}
	return out
}

// MissingEnglish lists the template phrases the English catalogue lacks,
// as "file<TAB>phrase".
func (s *Server) MissingEnglish() []string { return append([]string(nil), s.missing...) }

// TranslateJSON gives data (a JSON document) with every string value that
// is whole an interface phrase in English, for charts drawn from data on
// English pages. Keys and numbers are left as they are.
func (s *Server) TranslateJSON(data []byte) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case string:
			if en, ok := s.dict.lookup(t); ok {
				return en
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			for k := range t {
				t[k] = walk(t[k])
			}
		}
		return x
	}
	return json.Marshal(walk(v))
}

// humanize writes an identifier (major_administrative) as words.
func humanize(id string) string {
	s := strings.ReplaceAll(id, "_", " ")
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// englishCatalog is the policy as English pages show it: names in the
// bundle's English, titles, labels, hints and summaries through the
// catalogue; article texts and the goals stay in Chinese (the policy has
// no English text).
func englishCatalog(zh *catalog, d *dictionary) *catalog {
	t := func(s string) string {
		if en, ok := d.lookup(s); ok {
			return en
		}
		return s
	}
	or := func(en, zh string) string {
		if en != "" {
			return en
		}
		return t(zh)
	}
	var fact func(FactDoc) FactDoc
	fact = func(f FactDoc) FactDoc {
		f.Label = or(f.LabelEn, f.Label)
		labels := make([]string, len(f.Labels))
		for i, l := range f.Labels {
			labels[i] = t(l)
		}
		f.Labels = labels
		var fields []FactDoc
		for _, x := range f.Fields {
			fields = append(fields, fact(x))
		}
		f.Fields = fields
		return f
	}
	var view func(*factView) *factView
	view = func(v *factView) *factView {
		out := factViewOf(fact(v.FactDoc), strings.TrimSuffix(v.Field, v.Name))
		out.Hint = t(out.Hint)
		for i := range out.Options {
			out.Options[i].Label = t(out.Options[i].Label)
		}
		for i, sub := range out.Sub {
			out.Sub[i] = view(sub)
		}
		return out
	}
	c := &catalog{json: zh.json, goals: zh.goals, itemByID: map[string]*itemView{}, depts: map[string]string{}}
	doc := zh.doc
	doc.Title, doc.Issuer = or(doc.TitleEn, doc.Title), t(doc.Issuer)
	doc.Departments = nil
	for _, dp := range zh.doc.Departments {
		dp.Name = or(dp.NameEn, dp.Name)
		doc.Departments = append(doc.Departments, dp)
		c.depts[dp.ID] = dp.Name
	}
	doc.Sections = nil
	for _, s := range zh.doc.Sections {
		s.Title, s.Text = t(s.Title), t(s.Text)
		doc.Sections = append(doc.Sections, s)
	}
	doc.EnterpriseFacts = nil
	for _, f := range zh.doc.EnterpriseFacts {
		doc.EnterpriseFacts = append(doc.EnterpriseFacts, fact(f))
	}
	for _, v := range zh.entFacts {
		c.entFacts = append(c.entFacts, view(v))
	}
	doc.Items = nil
	for _, zv := range zh.items {
		it := zv.ItemDoc
		it.Name, it.Summary = or(it.NameEn, it.Name), t(it.Summary)
		it.Facts, it.Materials, it.Parameters = nil, nil, nil
		for _, f := range zv.Facts {
			it.Facts = append(it.Facts, fact(f))
		}
		for _, m := range zv.Materials {
			m.Name = or(m.NameEn, m.Name)
			it.Materials = append(it.Materials, m)
		}
		for _, p := range zv.Parameters {
			p.Label, p.Text = t(p.Label), t(p.Text)
			it.Parameters = append(it.Parameters, p)
		}
		iv := &itemView{ItemDoc: it, ArticleName: policy.ArticleName(it.Article, policy.English), Rate: zv.Rate, Max: t(zv.Max)}
		for _, id := range it.Departments {
			iv.DeptNames = append(iv.DeptNames, c.depts[id])
		}
		for _, v := range zv.FactViews {
			iv.FactViews = append(iv.FactViews, view(v))
		}
		doc.Items = append(doc.Items, it)
		c.items = append(c.items, iv)
		c.itemByID[it.ID] = iv
	}
	doc.Articles = nil
	for _, za := range zh.articles {
		a := za.ArticleDoc
		a.Name, a.Chapter, a.Title = policy.ArticleName(a.Number, policy.English), t(a.Chapter), t(a.Title)
		av := &articleView{ArticleDoc: a}
		for _, id := range a.Departments {
			av.DeptNames = append(av.DeptNames, c.depts[id])
		}
		for _, iv := range za.ItemViews {
			av.ItemViews = append(av.ItemViews, c.itemByID[iv.ID])
		}
		doc.Articles = append(doc.Articles, a)
		c.articles = append(c.articles, av)
	}
	c.chapters = chaptersOf(c.articles)
	doc.Pools = nil
	for _, p := range zh.doc.Pools {
		p.Name, p.Text = or(p.NameEn, p.Name), t(p.Text)
		doc.Pools = append(doc.Pools, p)
	}
	c.doc = doc
	return c
}

// catOf is the catalogue in the request's language.
func (s *Server) catOf(r *http.Request) *catalog {
	if LangOf(r.Context()) == policy.English {
		return s.catEn
	}
	return s.cat
}
