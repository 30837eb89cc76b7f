package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"policydesk/auth"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/store/storetest"
)

// exampleCase is the first worked example of shared/policy/cases/examples.yaml.
const exampleCase = `{"name": "算力券 pays 30% of settled compute fees", "date": "2025-06-30",
 "enterprise": {"uscc": "91110302MA01AB3C7G", "in_etown": true, "serious_dishonesty_listed": false, "penalties": []},
 "claims": [{"item": "compute_voucher", "facts": {"year": 2025, "compute_fees": "6000000"}}]}`

func TestEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		anon := e.client()

		// Liveness and readiness.
		if r := anon.do("GET", "/healthz", nil); r.status != 200 || !strings.Contains(string(r.body), `"ok"`) {
			t.Fatalf("/healthz: %d %s", r.status, r.body)
		}
		var h Health
		if r := anon.do("GET", "/readyz", nil); r.status != 200 {
			t.Fatalf("/readyz: %d %s", r.status, r.body)
		} else if r.json(t, &h); h.Status != "ok" {
			t.Fatalf("/readyz: %+v", h)
		}

		// Not signed in.
		r := anon.do("GET", "/api/v1/me", nil)
		if r.status != 401 || r.errBody(t).Code != "unauthorized" {
			t.Fatalf("/me anonymous: %d %s", r.status, r.body)
		}
		// A wrong password: 401 with a Chinese message.
		r = anon.do("POST", "/api/v1/session", LoginRequest{Login: "u-enterprise", Password: "wrong password"})
		if eb := r.errBody(t); r.status != 401 || eb.Code != "unauthorized" || !strings.Contains(eb.Message, "密码") {
			t.Fatalf("wrong password: %d %s", r.status, r.body)
		}

		// Sign in, who am I, sign out.
		c := e.client()
		r = c.do("POST", "/api/v1/session", LoginRequest{Login: "U-Enterprise", Password: testPassword})
		var sr SessionResponse
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		r.json(t, &sr)
		if sr.User.Role != auth.RoleEnterprise || sr.User.Enterprise != "91110302MA01AB3C7G" || sr.RoleLabel != "申报单位" {
			t.Fatalf("login answer %+v", sr)
		}
		if !sr.Expires.Equal(t0.Add(30 * 60e9)) {
			t.Fatalf("expires %v, want login + 30 min", sr.Expires)
		}
		if strings.Contains(string(r.body), c.sessionCookie()) {
			t.Fatal("the session id appears in the JSON body")
		}
		r = c.do("GET", "/api/v1/me", nil)
		var me SessionResponse
		r.json(t, &me)
		if r.status != 200 || me.User.UserID != e.users[auth.RoleEnterprise].ID || !me.Expires.Equal(sr.Expires) {
			t.Fatalf("/me: %d %s", r.status, r.body)
		}
		if r := c.do("DELETE", "/api/v1/session", nil); r.status != 204 {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		if r := c.do("GET", "/api/v1/me", nil); r.status != 401 {
			t.Fatalf("/me after logout: %d", r.status)
		}

		// Evaluate the shared example case, in Chinese and in English.
		r = anon.do("POST", "/api/v1/evaluate", exampleCase)
		var ev struct {
			Results []struct {
				Item, Status, Amount, Ceiling string
				ReviewRequired                bool `json:"review_required"`
				Article                       int
				Trace                         []struct{ Step, Text string }
			}
		}
		r.json(t, &ev)
		if r.status != 200 || len(ev.Results) != 1 {
			t.Fatalf("evaluate: %d %s", r.status, r.body)
		}
		res := ev.Results[0]
		if res.Item != "compute_voucher" || res.Status != "eligible" || res.Amount != "1800000.00" || !res.ReviewRequired || res.Article != 1 || len(res.Trace) == 0 {
			t.Fatalf("evaluate result %+v", res)
		}
		if !strings.Contains(string(r.body), "第一条") {
			t.Fatal("Chinese trace does not cite 第一条")
		}
		r = anon.do("POST", "/api/v1/evaluate?lang=en", exampleCase)
		if r.status != 200 || !strings.Contains(string(r.body), "Art. 1") {
			t.Fatalf("English trace: %d %s", r.status, r.body)
		}
		// An input error of the engine: 400 with its code.
		bad := strings.Replace(exampleCase, `"6000000"`, `"-1"`, 1)
		r = anon.do("POST", "/api/v1/evaluate", bad)
		if eb := r.errBody(t); r.status != 400 || eb.Code != policy.CodeInvalidMoney || eb.Field != "claims[0].facts.compute_fees" {
			t.Fatalf("negative money: %d %s", r.status, r.body)
		}
		r = anon.do("POST", "/api/v1/evaluate", strings.Replace(exampleCase, "compute_voucher", "time_machine", 1))
		if r.status != 400 || r.errBody(t).Code != policy.CodeUnknownItem {
			t.Fatalf("unknown item: %d %s", r.status, r.body)
		}
		r = anon.do("POST", "/api/v1/evaluate?lang=fr", exampleCase)
		if r.status != 400 || r.errBody(t).Field != "lang" {
			t.Fatalf("lang=fr: %d %s", r.status, r.body)
		}

		// The policy as JSON.
		var pd PolicyDoc
		r = anon.do("GET", "/api/v1/policy", nil)
		r.json(t, &pd)
		if r.status != 200 || len(pd.Items) != 17 || len(pd.Articles) == 0 || len(pd.Pools) != 2 || len(pd.EnterpriseFacts) == 0 {
			t.Fatalf("policy: %d items %d articles %d pools %d", r.status, len(pd.Items), len(pd.Articles), len(pd.Pools))
		}
		cv := pd.Items[slices.IndexFunc(pd.Items, func(i ItemDoc) bool { return i.ID == "compute_voucher" })]
		if cv.Name != "算力券" || cv.Summary != "按 30%，最高 2000万元" || len(cv.Materials) == 0 || cv.Facts[1].Label != "实际使用算力结算费用" || cv.Departments[0] != "info_tech" {
			t.Fatalf("compute_voucher in /api/v1/policy: %+v", cv)
		}
		if strings.Contains(string(r.body), "人工智慧") || !strings.Contains(string(r.body), "人工智能") {
			t.Fatal("/api/v1/policy is not in Simplified Chinese with mainland usage")
		}

		// The OpenAPI document lists every route.
		r = anon.do("GET", "/api/v1/openapi.json", nil)
		var doc struct {
			OpenAPI    string                               `json:"openapi"`
			Paths      map[string]map[string]map[string]any `json:"paths"`
			Components struct {
				Schemas map[string]any `json:"schemas"`
			} `json:"components"`
		}
		r.json(t, &doc)
		if doc.OpenAPI != "3.1.0" {
			t.Fatalf("openapi %q", doc.OpenAPI)
		}
		for _, rt := range e.srv.Routes() {
			p, _ := openAPIPath(rt.Pattern)
			op := doc.Paths[p][strings.ToLower(rt.Method)]
			if op == nil {
				t.Errorf("openapi.json lacks %s", rt.Key())
				continue
			}
			if rt.Request != nil && op["requestBody"] == nil {
				t.Errorf("%s: no requestBody", rt.Key())
			}
		}
		for _, name := range []string{"LoginRequest", "EvaluateRequest", "ErrorResponse", "policy.ResultView", "auth.Principal"} {
			if doc.Components.Schemas[name] == nil {
				t.Errorf("openapi.json: no schema %s (have %v)", name, keys(doc.Components.Schemas))
			}
		}
		login := doc.Paths["/api/v1/session"]["post"]["requestBody"].(map[string]any)
		if !strings.Contains(fmt.Sprint(login), "#/components/schemas/LoginRequest") {
			t.Errorf("login requestBody %v", login)
		}
		ls, _ := json.Marshal(doc.Components.Schemas["LoginRequest"])
		if !strings.Contains(string(ls), `"required":["login","password"]`) {
			t.Errorf("LoginRequest schema %s", ls)
		}

		// Metrics count what happened, by route pattern.
		e.srv.RegisterGauge("policydesk_test_gauge", "a test gauge", func() float64 { return 42 })
		r = anon.do("GET", "/metrics", nil)
		m := string(r.body)
		for _, want := range []string{
			`policydesk_http_requests_total{route="GET /healthz",status="200"} 1`,
			`policydesk_http_requests_total{route="POST /api/v1/evaluate",status="400"} 3`,
			`policydesk_http_request_duration_seconds_bucket{route="POST /api/v1/session",le="+Inf"} 2`,
			`policydesk_http_request_duration_seconds_count{route="GET /api/v1/me"} 3`,
			"# TYPE policydesk_http_request_duration_seconds histogram",
			"policydesk_test_gauge 42",
			"go_goroutines ",
		} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		if r.header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("/metrics content type %q", r.header.Get("Content-Type"))
		}

		// Every request was logged as one JSON line with its request id.
		for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
			var l map[string]any
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("log line is not JSON: %s", line)
			}
			if l["msg"] == "http" && (l["request_id"] == "" || l["route"] == nil || l["status"] == nil) {
				t.Fatalf("access log line lacks fields: %s", line)
			}
		}
	})
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestSharedExamples runs every worked example of shared/policy/cases
// through POST /api/v1/evaluate and checks the expectations, so that the
// API answers what the engine's own test runner does.
func TestSharedExamples(t *testing.T) {
	data, err := os.ReadFile("../../shared/policy/cases/examples.yaml")
	if err != nil {
		t.Skipf("shared cases not beside the repository: %v", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var cases []*yaml.Node
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "cases" {
			cases = top.Content[i+1].Content
		}
	}
	if len(cases) == 0 {
		t.Fatal("no cases in examples.yaml")
	}
	db := storetest.New(t, store.SQLite)
	e := newEnv(t, db)
	c := e.client()
	for _, n := range cases {
		v := yamlJSON(n).(map[string]any)
		name, _ := v["name"].(string)
		expect, _ := v["expect"].([]any)
		expErr, _ := v["expect_error"].(string)
		delete(v, "expect")
		delete(v, "expect_error")
		body, _ := json.Marshal(v)
		r := c.do("POST", "/api/v1/evaluate", body)
		if expErr != "" {
			if r.status != 400 || r.errBody(t).Code != expErr {
				t.Errorf("%s: want 400 %s, got %d %s", name, expErr, r.status, r.body)
			}
			continue
		}
		var out struct {
			Results []struct {
				Item, Status, Amount string
				Reasons              []string
				ReviewRequired       bool `json:"review_required"`
			}
		}
		r.json(t, &out)
		if r.status != 200 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
			continue
		}
		for _, x := range expect {
			ex := x.(map[string]any)
			i := slices.IndexFunc(out.Results, func(r struct {
				Item, Status, Amount string
				Reasons              []string
				ReviewRequired       bool `json:"review_required"`
			}) bool {
				return r.Item == ex["item"]
			})
			if i < 0 {
				t.Errorf("%s: no result for %v", name, ex["item"])
				continue
			}
			got := out.Results[i]
			if st, ok := ex["status"].(string); ok && st != got.Status {
				t.Errorf("%s: status %s, want %s", name, got.Status, st)
			}
			if a, ok := ex["amount"]; ok {
				want, err1 := money.Parse(fmt.Sprint(a))
				have, err2 := money.Parse(got.Amount)
				if err1 != nil || err2 != nil || want != have {
					t.Errorf("%s: amount %s, want %v", name, got.Amount, a)
				}
			}
			if rs, ok := ex["reasons"].([]any); ok {
				for _, reason := range rs {
					if !slices.Contains(got.Reasons, reason.(string)) {
						t.Errorf("%s: reasons %v lack %v", name, got.Reasons, reason)
					}
				}
			}
			if rr, ok := ex["review_required"].(bool); ok && rr != got.ReviewRequired {
				t.Errorf("%s: review_required %v", name, got.ReviewRequired)
			}
		}
	}
}

// yamlJSON converts a YAML node to a JSON-ready value, keeping scalar text
// exact: numbers become json.Number, dates strings.
func yamlJSON(n *yaml.Node) any {
	if n.Kind == yaml.AliasNode {
		return yamlJSON(n.Alias)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = yamlJSON(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, yamlJSON(c))
		}
		return l
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return json.Number(n.Value)
	case "!!bool":
		return n.Value == "true"
	case "!!null":
		return nil
	}
	return n.Value
}

// TestServeOnRealListener boots the server on 127.0.0.1:0 with Run and
// shuts it down, draining a request in flight.
func TestServeOnRealListener(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	e := newEnv(t, db)
	started := make(chan struct{})
	release := make(chan struct{})
	e.srv.Handle(Route{Method: "GET", Pattern: "/api/v1/test/slow", Public: true, Summary: "test", Handler: func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		close(started)
		<-release
		return WriteJSON(w, 200, map[string]string{"done": "yes"})
	}})
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx, ln, nil) }()
	base := "http://" + ln.Addr().String()
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz on a real listener: %v %v", res, err)
	}
	res.Body.Close()
	slow := make(chan *http.Response, 1)
	go func() {
		r, err := http.Get(base + "/api/v1/test/slow")
		if err != nil {
			t.Error(err)
		}
		slow <- r
	}()
	<-started
	cancel() // SIGTERM arrives while a request is in flight
	waitDraining(t, e.srv)
	close(release)
	r := <-slow
	if r == nil || r.StatusCode != 200 {
		t.Fatalf("in-flight request not drained: %+v", r)
	}
	r.Body.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}
