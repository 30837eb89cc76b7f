package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"policydesk/desk"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestEnglishCatalogueCoversTemplates: every Chinese phrase of every
// template (the layout's and the portal's) has English in web/i18n, so
// that no English page shows a Chinese phrase of the interface.
// POLICYDESK_I18N_OUT=FILE writes the missing phrases there, to translate.
func TestEnglishCatalogueCoversTemplates(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	missing := e.srv.MissingEnglish()
	if out := os.Getenv("POLICYDESK_I18N_OUT"); out != "" {
		seen := map[string]bool{}
		var keys []string
		for _, m := range missing {
			_, k, _ := strings.Cut(m, "\t")
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		if err := os.WriteFile(out, []byte(strings.Join(keys, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range missing {
		if i == 40 {
			t.Errorf("… and %d more", len(missing)-40)
			break
		}
		t.Errorf("no English for %q", m)
	}
}

var (
	tagRE   = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<textarea.*?</textarea>|<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// hanNodes returns the text nodes of a page that hold Chinese.
func hanNodes(page string) []string {
	var out []string
	for _, n := range tagRE.Split(page, -1) {
		n = strings.TrimSpace(spaceRE.ReplaceAllString(n, " "))
		for _, r := range n {
			if unicode.Is(unicode.Han, r) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

func englishGet(c *client, path string) resp {
	c.e.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return c.get(path + sep + "lang=en")
}

// TestEnglishPages signs in as every role, with the demo data, and reads
// every page in English: each is whole (html lang="en", the switch back
// to 中文), and Chinese is left only in data (names of enterprises,
// people and contracts, the policy's article texts) — a Chinese text node
// that is an interface phrase (it is in the catalogue, or it is a label
// the code writes) fails. POLICYDESK_I18N_PAGES=FILE writes the Chinese
// text nodes seen, to review.
func TestEnglishPages(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	e.seed(40)
	logins := []string{"", "admin", "fin1", "rev", "exp1", "ent", "provider"}
	// Labels the code writes: a page must never show them in Chinese.
	labels := []string{"已提交", "已受理", "拟支持", "公示中", "已批准", "已拨付", "待补正", "申报单位", "管理员", "财政",
		"政策一览", "政策计算器", "工作台", "退出", "登录", "自行申报", "名单导入", "部门核实", "信息技术产业局"}
	seen := map[string]int{}
	pages := 0
	defer func() {
		if out := os.Getenv("POLICYDESK_I18N_PAGES"); out != "" {
			var lines []string
			for n, k := range seen {
				lines = append(lines, fmt.Sprintf("%d\t%s", k, n))
			}
			sort.Strings(lines)
			os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
		}
	}()
	for _, login := range logins {
		c := e.as(login)
		for _, rt := range e.srv.Routes() {
			if rt.Method != "GET" || rt.API() || strings.Contains(rt.Pattern, "{") || strings.Contains(rt.Pattern, "xlsx") ||
				strings.HasPrefix(rt.Pattern, "/static") || strings.HasPrefix(rt.Pattern, "/metrics") || strings.HasPrefix(rt.Pattern, "/healthz") || strings.HasPrefix(rt.Pattern, "/readyz") {
				continue
			}
			r := englishGet(c, rt.Pattern)
			if r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
				continue
			}
			pages++
			where := rt.Pattern + " as " + login
			if strings.Contains(r.body, "<html") && !strings.Contains(r.body, `<html lang="en">`) {
				t.Errorf("%s: not marked English", where)
			}
			if strings.Contains(r.body, "<html") && !strings.Contains(r.body, ">中文</a>") {
				t.Errorf("%s: no switch back to 中文", where)
			}
			for _, n := range hanNodes(r.body) {
				seen[n]++
				for _, l := range labels {
					if n == l {
						t.Errorf("%s: shows the label %q in Chinese", where, n)
					}
				}
			}
		}
	}
	// Detail pages: an application in every state the demo made, its
	// letter, an enterprise, a payment batch — as admin, which sees all.
	adm := desk.Actor{ID: e.users["admin"].ID, Role: desk.RoleAdmin}
	apps, err := e.svc.List(context.Background(), adm, desk.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	byState := map[string]string{}
	for _, a := range apps {
		if byState[a.State] == "" {
			byState[a.State] = a.ID
		}
	}
	details := []string{}
	for _, id := range byState {
		details = append(details, "/applications/"+id, "/applications/"+id+"/letter")
	}
	if len(apps) > 0 {
		details = append(details, "/enterprises/"+apps[0].USCC)
	}
	batches, err := e.svc.RecentBatches(context.Background(), adm, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		details = append(details, "/finance/batches/"+b.ID)
	}
	if len(byState) < 8 || len(batches) == 0 {
		t.Fatalf("the demo made %d states and %d batches", len(byState), len(batches))
	}
	ac := e.as("admin")
	for _, path := range details {
		r := englishGet(ac, path)
		if r.status == http.StatusNotFound && strings.HasSuffix(path, "/letter") {
			continue // no letter in this state (a draft)
		}
		if r.status != http.StatusOK {
			t.Errorf("%s: %d", path, r.status)
			continue
		}
		pages++
		for _, n := range hanNodes(r.body) {
			seen[n]++
			for _, l := range labels {
				if n == l {
					t.Errorf("%s: shows the label %q in Chinese", path, n)
				}
			}
		}
	}
	if pages < 50 {
		t.Fatalf("read only %d English pages", pages)
	}
	// The switch is remembered: a page without ?lang= stays English, and
	// ?lang=zh goes back.
	c := e.as("ent")
	englishGet(c, "/policy")
	if b := c.page("/policy"); !strings.Contains(b, `<html lang="en">`) {
		t.Fatal("the language is not remembered")
	}
	if b := c.page("/policy?lang=zh"); !strings.Contains(b, `<html lang="zh-CN">`) {
		t.Fatal("?lang=zh does not switch back")
	}
}
