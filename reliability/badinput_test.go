package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"policydesk/auth"
	"policydesk/desk"
	"policydesk/reliability"
	"policydesk/store"
	"policydesk/store/storetest"
	"policydesk/web"
)

// Strings an attacker puts in path values, query parameters and fields.
var attackStrings = []string{
	`' OR '1'='1' --`,
	`1; DROP TABLE desk_applications; --`,
	`x" UNION SELECT password_hash FROM auth_users --`,
	`../../../../etc/passwd`,
	`..\..\..\windows\win.ini`,
	"nul\x00byte",
	"\xff\xfe\xfd invalid utf-8",
	strings.Repeat("长", 5000),
	`<script>alert(1)</script>`,
	`${jndi:ldap://127.0.0.1/x}`,
	`%00%2e%2e%2f`,
}

// variant is one malformed request of a route.
type variant struct {
	name    string
	path    string // with the query
	ct      string // Content-Type; "" for none
	body    []byte
	hdr     []string
	badBody bool // the body is malformed: a route that reads one must refuse it with 4xx
	heavy   bool // large: sent once per route, as the first role it allows
}

type badEnv struct {
	env   *reliability.Env
	ts    *httptest.Server
	clock *clock
	users map[string]auth.User
	ids   map[string]string // path wildcard → a real value
	logs  *syncBuffer
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if substr != "" && strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

const password = "correct horse battery"

var cst = time.FixedZone("CST", 8*3600)

// logins by role; "" is the anonymous visitor.
var logins = map[auth.Role]string{
	"": "", auth.RoleAdmin: "admin", auth.RoleFinance: "fin1", auth.RoleReviewer: "rev",
	auth.RoleExpert: "exp1", auth.RoleEnterprise: "ent", auth.RoleProvider: "prov",
}

// newBadEnv boots the full server (API and pages) with a user per role
// and real objects to aim at: an application paid through a batch, its
// material, a 公示 list, an objection, a draft.
func newBadEnv(t *testing.T, db *store.DB) *badEnv {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2025, 6, 2, 9, 0, 0, 0, cst)}
	logs := &syncBuffer{}
	env, err := reliability.NewEnv(ctx, db, reliability.EnvOptions{Now: clk.Now, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	b := &badEnv{env: env, clock: clk, users: map[string]auth.User{}, ids: map[string]string{}, logs: logs}
	entA := reliability.EnterpriseCode(1)
	add := func(login string, role auth.Role, ent, dept string) {
		u, err := reliability.AddUser(ctx, env.Auth, auth.User{Login: login, Name: login, Role: role, Enterprise: ent, Department: dept}, password)
		if err != nil {
			t.Fatal(err)
		}
		b.users[login] = u
	}
	add("admin", auth.RoleAdmin, "", "")
	add("fin1", auth.RoleFinance, "", "")
	add("fin2", auth.RoleFinance, "", "")
	add("rev", auth.RoleReviewer, "", "info_tech")
	for i := 1; i <= 4; i++ {
		add(fmt.Sprintf("exp%d", i), auth.RoleExpert, "", "")
	}
	add("ent", auth.RoleEnterprise, entA, "")
	add("prov", auth.RoleProvider, reliability.EnterpriseCode(9), "")
	add("decoy", auth.RoleEnterprise, reliability.EnterpriseCode(2), "")

	s := env.Desk
	actor := func(login string) desk.Actor {
		u := b.users[login]
		return desk.Actor{ID: u.ID, Role: string(u.Role), Enterprise: u.Enterprise, Department: u.Department}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ent, rev, admin := actor("ent"), actor("rev"), actor("admin")
	_, err = s.FundPools(ctx, admin)
	must(err)
	_, err = s.OpenRound(ctx, admin, "r", []string{"genai_filing", "high_tech"}, "2025-05-01", "2025-06-30")
	must(err)
	_, err = s.RegisterEnterprise(ctx, ent, entA, "北京亦庄测试科技有限公司")
	must(err)
	must(s.SetBankAccount(ctx, ent, entA, "北京银行", "20000012345678"))
	must(s.SetFacts(ctx, ent, entA, map[string]json.RawMessage{"in_etown": []byte("true"), "serious_dishonesty_listed": []byte("false"),
		"penalties": []byte("[]"), "ai_enterprise": []byte("true")}, desk.SourceSelf, "2025-01-01"))
	app, err := s.CreateApplication(ctx, ent, "genai_filing", map[string]json.RawMessage{"filing_date": []byte(`"2025-03-01"`)})
	must(err)
	mat, err := s.Upload(ctx, ent, app.ID, "filing_notice", "f.pdf", reliability.PDF)
	must(err)
	must(s.SignCommitment(ctx, ent, app.ID))
	_, err = s.Submit(ctx, ent, app.ID, "")
	must(err)
	_, err = s.Accept(ctx, rev, app.ID, "")
	must(err)
	_, err = s.Opinion(ctx, rev, app.ID, "")
	must(err)
	pub, err := s.Publish(ctx, rev, "公示", []string{app.ID})
	must(err)
	obj, err := s.Object(ctx, desk.Actor{ID: "public", Role: desk.RolePublic}, app.ID, "张三", "13800000000", "请核查该企业备案是否属实。")
	must(err)
	_, err = s.ResolveObjection(ctx, rev, obj.ID, false, "经核查属实")
	must(err)
	clk.Set(time.Date(2025, 6, 10, 9, 0, 0, 0, cst))
	_, _, err = s.CloseWindows(ctx)
	must(err)
	batch, err := s.CreateBatch(ctx, actor("fin1"), []string{app.ID})
	must(err)
	draft, err := s.CreateApplication(ctx, ent, "high_tech", map[string]json.RawMessage{"date": []byte(`"2025-03-01"`)})
	must(err)

	b.ids = map[string]string{"{uscc}": entA, "{mid}": mat.ID, "{app}": app.ID, "/applications/{id}": app.ID, "/drafts/{id}": draft.ID,
		"/publicity/{id}": pub.ID, "/objections/{id}": obj.ID, "/batches/{id}": batch.ID, "/users/{id}": b.users["decoy"].ID,
		"/offers/{id}": "offer-none", "{path...}": "css/site.css"}
	b.ts = httptest.NewServer(env.Server.Handler())
	t.Cleanup(b.ts.Close)
	return b
}

var wildcard = regexp.MustCompile(`\{[a-z]+(\.\.\.)?\}`)

// validPath fills the route's wildcards with real values.
func (b *badEnv) validPath(pattern string) string {
	p := pattern
	for _, k := range []string{"/applications/{id}", "/publicity/{id}", "/objections/{id}", "/batches/{id}", "/users/{id}", "/offers/{id}"} {
		p = strings.ReplaceAll(p, k, strings.ReplaceAll(k, "{id}", b.ids[k]))
	}
	for _, k := range []string{"{uscc}", "{mid}", "{app}", "{path...}"} {
		p = strings.ReplaceAll(p, k, b.ids[k])
	}
	return wildcard.ReplaceAllString(strings.TrimSuffix(p, "{$}"), "x")
}

// fill returns a JSON body of the shape of req with every string, every
// key and every number set to an attack value.
func fill(req any, s string, num json.Number) map[string]any {
	out := map[string]any{}
	t := reflect.TypeOf(req)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch f.Type.Kind() {
		case reflect.String:
			out[name] = s
		case reflect.Slice:
			out[name] = []any{s, s}
		case reflect.Map:
			out[name] = map[string]any{s: s}
		case reflect.Int, reflect.Int64, reflect.Int32:
			if f.Type.Name() == "Amount" {
				out[name] = s
			} else {
				out[name] = num
			}
		case reflect.Bool:
			out[name] = s
		default:
			out[name] = s
		}
	}
	return out
}

func jsonBytes(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return bytes.TrimSpace(buf.Bytes())
}

func multipartBody(fields map[string]string, filename string, data []byte) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if filename != "" {
		fw, _ := mw.CreateFormFile("file", filename)
		fw.Write(data)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// formFields are names the pages' forms use; each gets the attack value.
var formFields = []string{"message", "title", "ids", "id", "amount", "total", "count", "kind", "login", "password", "name", "role",
	"department", "enterprise", "uscc", "bank_name", "bank_account", "facts", "item", "items", "opens", "closes", "source", "as_of",
	"upheld", "resolution", "conflict", "note", "scores", "comment", "experts", "n", "chair", "paid", "bank_ref", "reason", "pool",
	"year", "apply", "round_id", "contact", "text", "next", "action", "state", "filing_date", "date", "csrf"}

func (b *badEnv) variants(rt web.Route, full bool) []variant {
	valid := b.validPath(rt.Pattern)
	var vs []variant
	hasBody := rt.Method != "GET"
	benign := func(path string) variant {
		if hasBody && rt.API() {
			return variant{name: "path", path: path, ct: "application/json", body: []byte("{}")}
		}
		return variant{name: "path", path: path}
	}
	vs = append(vs, benign(valid))
	attacks := attackStrings
	if !full {
		attacks = attacks[:7]
	}
	if wildcard.MatchString(rt.Pattern) {
		for _, a := range attacks {
			p := rt.Pattern
			p = wildcard.ReplaceAllStringFunc(p, func(string) string { return url.PathEscape(a) })
			v := benign(strings.TrimSuffix(p, "{$}"))
			v.name = "path " + a[:min(len(a), 20)]
			vs = append(vs, v)
		}
		// Unescaped traversal: the mux cleans it and redirects.
		vs = append(vs, variant{name: "raw traversal", path: strings.Replace(valid, "/api/v1/", "/api/v1/../../", 1)})
	}
	if rt.Method == "GET" {
		for _, a := range attacks[:min(len(attacks), 4)] {
			q := url.Values{}
			for _, k := range []string{"limit", "offset", "state", "item", "uscc", "date", "entity", "entity_id", "enterprise", "actor", "action", "next", "page", "q", "year", "pool"} {
				q.Set(k, a)
			}
			vs = append(vs, variant{name: "query " + a[:min(len(a), 20)], path: valid + "?" + q.Encode()})
		}
		vs = append(vs, variant{name: "query numbers", path: valid + "?limit=-1&offset=99999999999999999999999&year=-2147483649&page=1e309"})
		return vs
	}
	multi := strings.Contains(rt.Summary, "multipart") || strings.HasSuffix(rt.Pattern, "/materials") || strings.HasSuffix(rt.Pattern, "/import")
	bad := func(name, ct string, body []byte) {
		vs = append(vs, variant{name: name, path: valid, ct: ct, body: body, badBody: true, heavy: len(body) > 64<<10})
	}
	switch {
	case multi:
		ct, body := multipartBody(map[string]string{"kind": "filing_notice", "item": "genai_filing", "source": "x"}, "../../../../etc/passwd.pdf", reliability.PDF)
		vs = append(vs, variant{name: "traversal filename", path: valid, ct: ct, body: body})
		ct, body = multipartBody(map[string]string{"kind": attackStrings[0], "item": attackStrings[1], "source": attackStrings[3]}, "\xff\xfe.pdf", reliability.PDF)
		vs = append(vs, variant{name: "attack fields", path: valid, ct: ct, body: body})
		ct, body = multipartBody(map[string]string{"kind": "filing_notice"}, "a.exe", []byte("MZ\x90\x00\x03"))
		bad("executable", ct, body)
		ct, body = multipartBody(map[string]string{"kind": "filing_notice"}, "empty.pdf", nil)
		bad("empty file", ct, body)
		ct, body = multipartBody(map[string]string{"kind": "filing_notice"}, "", nil)
		bad("no file", ct, body)
		bad("broken multipart", "multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF"))
		bad("multipart without boundary", "multipart/form-data", []byte("x"))
		bad("json instead", "application/json", []byte(`{"kind":"x"}`))
		if full {
			big := bytes.Repeat([]byte("A"), 21<<20)
			copy(big, reliability.PDF)
			ct, body = multipartBody(map[string]string{"kind": "filing_notice"}, "big.pdf", big)
			vs = append(vs, variant{name: "oversized file", path: valid, ct: ct, body: body, badBody: true, heavy: true})
		}
	case rt.API():
		req := rt.Request
		if req == nil {
			req = struct {
				Message string `json:"message"`
			}{}
		}
		for _, a := range attacks {
			vs = append(vs, variant{name: "fields " + a[:min(len(a), 20)], path: valid, ct: "application/json", body: jsonBytes(fill(req, a, "-1"))})
		}
		vs = append(vs, variant{name: "idempotency key", path: valid, ct: "application/json", body: []byte("{}"), hdr: []string{"Idempotency-Key", strings.Repeat("k\xff", 3000)}})
		if rt.Request != nil {
			unknown := fill(rt.Request, "x", "1")
			unknown["zz_unknown_field"] = true
			bad("unknown field", "application/json", jsonBytes(unknown))
			wrong := map[string]any{}
			for k := range fill(rt.Request, "x", "1") {
				wrong[k] = map[string]any{"$gt": ""}
			}
			if len(wrong) > 0 {
				bad("wrong types", "application/json", jsonBytes(wrong))
			}
			huge := map[string]any{}
			for k := range fill(rt.Request, "x", "1") {
				huge[k] = json.Number("1e999")
			}
			if len(huge) > 0 {
				bad("huge numbers", "application/json", jsonBytes(huge))
			}
			bad("oversized", "application/json", jsonBytes(map[string]string{"message": strings.Repeat("a", web.DefaultMaxBody)}))
			bad("text/plain", "text/plain", []byte(`{"message":"x"}`))
			bad("form", "application/x-www-form-urlencoded", []byte("message=x"))
			bad("latin1", "application/json; charset=latin1", []byte(`{"message":"x"}`))
			bad("no content type", "", []byte(`{"message":"x"}`))
			bad("deep array", "application/json", bytes.Repeat([]byte("["), 5000))
			bad("deep object", "application/json", []byte(strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000)))
			bad("invalid utf-8", "application/json", []byte("{\"message\":\"\xff\xfe\"}"))
			bad("truncated", "application/json", []byte(`{"message":`))
			bad("trailing", "application/json", []byte(`{}{}`))
			bad("null", "application/json", []byte(`null `+"\x00"))
			bad("array", "application/json", []byte(`[]`))
			bad("empty", "application/json", nil)
		}
	default: // a page's form
		for _, a := range attacks {
			q := url.Values{}
			for _, k := range formFields {
				q.Add(k, a)
			}
			vs = append(vs, variant{name: "form " + a[:min(len(a), 20)], path: valid, ct: "application/x-www-form-urlencoded", body: []byte(q.Encode())})
		}
		vs = append(vs,
			variant{name: "oversized form", path: valid, ct: "application/x-www-form-urlencoded", body: []byte("message=" + strings.Repeat("a", 2<<20)), heavy: true},
			variant{name: "broken form", path: valid, ct: "application/x-www-form-urlencoded", body: []byte("%zz=%%&message=%ff%fe&=&&")},
			variant{name: "json to a form", path: valid, ct: "application/json", body: bytes.Repeat([]byte("["), 10000)},
			variant{name: "broken multipart", path: valid, ct: "multipart/form-data; boundary=xyz", body: []byte("--xyz\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nx")},
		)
	}
	return vs
}

// requestID is the id an error answer names (API: in the JSON; pages:
// in the X-Request-Id header).
func requestID(r reliability.Resp) string {
	var e struct {
		Error struct {
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	if e.Error.RequestID == "" {
		return r.Header.Get("X-Request-Id")
	}
	return e.Error.RequestID
}

// maxShown bounds the failures printed in full (POLICYDESK_BADINPUT_SHOW).
var maxShown = 40

// killsSession: routes that end the caller's session, run last.
func killsSession(rt web.Route) bool {
	return strings.Contains(rt.Pattern, "session") || strings.Contains(rt.Pattern, "logout") || rt.Pattern == "/login"
}

// TestBadInputEverywhere sends every route of the full server (the JSON
// API and the pages) malformed requests — oversized bodies, wrong content
// types, deep JSON, invalid UTF-8, NUL bytes, SQL-injection and
// path-traversal strings in path values, query parameters and fields,
// unknown fields, wrong types — as a visitor and as each role the route
// allows (every role with POLICYDESK_BADINPUT_FULL=1, which also sends a
// 21 MB upload and more attack strings). No answer may be a 5xx; every API
// error is JSON with a code; a malformed body is refused with a 4xx by
// every route that reads one. Afterwards the ledger and the audit chain
// still verify and the tables are all there.
func TestBadInputEverywhere(t *testing.T) {
	full := os.Getenv("POLICYDESK_BADINPUT_FULL") != ""
	if v, err := strconv.Atoi(os.Getenv("POLICYDESK_BADINPUT_SHOW")); err == nil {
		maxShown = v
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBadEnv(t, db)
		tr := &http.Transport{MaxIdleConnsPerHost: 16}
		defer tr.CloseIdleConnections()
		clients := map[auth.Role]*reliability.Client{}
		for role, login := range logins {
			c := reliability.NewClient(b.ts.URL, tr, time.Minute)
			c.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			if login != "" {
				if err := c.Login(context.Background(), login, password); err != nil {
					t.Fatal(err)
				}
			}
			clients[role] = c
		}
		routes := b.env.Server.Routes()
		slices.SortStableFunc(routes, func(x, y web.Route) int {
			switch kx, ky := killsSession(x), killsSession(y); {
			case kx == ky:
				return 0
			case kx:
				return 1
			}
			return -1
		})
		roleOrder := []auth.Role{"", auth.RoleEnterprise, auth.RoleReviewer, auth.RoleExpert, auth.RoleFinance, auth.RoleProvider, auth.RoleAdmin}
		n, fails := 0, 0
		statuses := map[int]int{}
		start := time.Now()
		for _, rt := range routes {
			if rt.Pattern == "/api/v1/audit/verify" {
				continue // it reads the whole trail: slow, and takes no input
			}
			heavyDone, rolesDone := false, 0
			for _, role := range roleOrder {
				p := auth.Principal{UserID: "u", Role: role}
				if role == "" {
					p = auth.Principal{}
				}
				heavyHere := !heavyDone && (rt.Allows(p) || role == auth.RoleAdmin)
				heavyDone = heavyDone || heavyHere
				if role != "" && !full && (!rt.Allows(p) || rolesDone > 0) {
					// A role the route refuses is refused before any handler
					// runs (TestRouteRoleMatrix covers it); CI sends the
					// barrage as the visitor and the first role allowed.
					continue
				}
				if role != "" && rt.Allows(p) {
					rolesDone++
				}
				for _, v := range b.variants(rt, full) {
					if v.heavy && !heavyHere {
						continue
					}
					n++
					r, err := clients[role].Raw(context.Background(), rt.Method, v.path, v.ct, bytes.NewReader(v.body), v.hdr...)
					if err != nil {
						t.Errorf("%s as %q, %s: no answer: %v", rt.Key(), role, v.name, err)
						fails++
						continue
					}
					statuses[r.Status]++
					bad := ""
					switch {
					case r.Status >= 500:
						bad = "5xx"
					case rt.API() && r.Status >= 400 && (!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.Code() == ""):
						bad = "an API error without a JSON code"
					case v.badBody && rt.Allows(p) && r.Status < 400 && r.Status != 303 && rt.Request != nil:
						bad = "a malformed body accepted"
					}
					if bad != "" {
						fails++
						if fails <= maxShown {
							t.Errorf("%s as %q, %s: %s: %d %.200s\n%s", rt.Key(), role, v.name, bad, r.Status, r.Body, b.logs.lines(requestID(r)))
						}
					}
				}
			}
		}
		t.Logf("%d requests in %s; statuses %v", n, time.Since(start).Round(time.Millisecond), statuses)
		if fails > maxShown {
			t.Errorf("… %d failures in all", fails)
		}
		ctx := context.Background()
		vr, err := reliability.Verify(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if err := vr.Err(); err != nil {
			t.Fatalf("after the barrage: %v", err)
		}
		for _, table := range []string{"desk_applications", "desk_materials", "auth_users", "audit_log", "ledger_transfers"} {
			var c int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&c); err != nil || c == 0 {
				t.Errorf("table %s after the barrage: %d rows, %v", table, c, err)
			}
		}
	})
}
