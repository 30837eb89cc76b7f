package web

import (
	"html"
	"log/slog"
	"strings"
	"testing"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/store"
	"policydesk/store/storetest"
)

func TestHans(t *testing.T) {
	for in, want := range map[string]string{
		"資訊技術産業局":            "信息技术产业局",
		"人工智慧核心技術取得重大突破":     "人工智能核心技术取得重大突破",
		"國産人工智慧晶片伺服器":        "国产人工智能芯片服务器",
		"對新增獲得備案的企業":         "对新增获得备案的企业",
		"國家或北京市獎勵文件":         "国家或北京市奖励文件",
		"培育性能達到國際先進水準的通用大模型": "培育性能达到国际先进水平的通用大模型",
		"支援企業購買算力服務":         "支持企业购买算力服务",
		"":                   "",
	} {
		if got := hans(in); got != want {
			t.Errorf("hans(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPages(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	c := e.client()
	pages := []struct {
		path string
		want []string
	}{
		{"/", []string{"政策一览", "每年 1亿元", "京技管发〔2024〕29号", "人工智能", "算力券", "按 30%，最高 2000万元", "信息技术产业局", "支持事项一览（17 项）", "<strong>100</strong>"}},
		{"/policy", []string{"第一条", "强化普惠算力供给", "算力服务合同", "申报需准备的材料", "服务类条款，不涉及资金计算", "附则"}},
		{"/calculator", []string{"政策计算器", `<select id="item" name="item">`, "算力券"}},
		{"/calculator?item=compute_voucher", []string{"政策计算器", `name="f.compute_fees"`, `<label for="f.compute_fees">实际使用算力结算费用</label>`, `name="ent.in_etown"`, `<label class="sr" for="ent.penalties.0.date">记录 1：日期</label>`}},
		{"/calculator?item=data_firsts", []string{`name="f.events.0.kind"`, "首登记"}},
		{"/login", []string{"登录名", `autocomplete="current-password"`}},
	}
	for _, p := range pages {
		r := c.do("GET", p.path, nil)
		body := html.UnescapeString(string(r.body))
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s", p.path, r.status, r.header.Get("Content-Type"))
			continue
		}
		for _, w := range p.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", p.path, w)
			}
		}
		// Simplified script: no Traditional forms of words the policy uses.
		for _, trad := range []string{"人工智慧", "資訊", "產業", "産業", "條", "專", "經濟", "支援"} {
			if strings.Contains(body, trad) {
				t.Errorf("%s shows Traditional %q", p.path, trad)
			}
		}
		for _, a11y := range []string{`lang="zh-CN"`, `<a class="skip" href="#main">`, `name="viewport"`} {
			if !strings.Contains(body, a11y) {
				t.Errorf("%s lacks %s", p.path, a11y)
			}
		}
	}
	if r := c.do("GET", "/calculator?item=nope", nil); r.status != 400 {
		t.Errorf("unknown item: %d", r.status)
	}
}

func TestCalculator(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	c := e.client()
	form := map[string]string{
		"item": "compute_voucher", "date": "2025-06-30",
		"ent.in_etown": "true", "ent.serious_dishonesty_listed": "false",
		"f.year": "2025", "f.compute_fees": "6,000,000",
	}
	r := c.form("/calculator", form)
	body := html.UnescapeString(string(r.body))
	if r.status != 200 {
		t.Fatalf("calculate: %d %s", r.status, body)
	}
	for _, w := range []string{"计算结果：符合条件", "可获支持 <strong>180 万元</strong>", "计算过程", "第一条", "30%", `value="6,000,000"`} {
		if !strings.Contains(body, w) {
			t.Errorf("result lacks %q", w)
		}
	}
	// 万 works, the yearly cap shows.
	form["f.compute_fees"] = "8000万"
	body = html.UnescapeString(string(c.form("/calculator", form).body))
	if !strings.Contains(body, "2000 万元") {
		t.Errorf("capped result lacks 2000 万元")
	}
	// Missing facts: the engine says what to provide, by label.
	delete(form, "f.compute_fees")
	body = html.UnescapeString(string(c.form("/calculator", form).body))
	if !strings.Contains(body, "信息不全") || !strings.Contains(body, "还需提供：实际使用算力结算费用") {
		t.Errorf("incomplete result: %s", body[strings.Index(body, "<main"):])
	}
	// Penalties inside 3 years: not eligible, with the reason.
	form["f.compute_fees"] = "100"
	form["ent.penalties.0.date"] = "2024-01-01"
	form["ent.penalties.0.kind"] = "criminal"
	body = html.UnescapeString(string(c.form("/calculator", form).body))
	if !strings.Contains(body, "不符合条件") {
		t.Errorf("penalty not applied")
	}
	// Bad input: 400, the form again with the label, never a 500.
	form["f.compute_fees"] = "-5"
	r = c.form("/calculator", form)
	body = html.UnescapeString(string(r.body))
	if r.status != 400 || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "「实际使用算力结算费用」") {
		t.Errorf("negative fee: %d", r.status)
	}
	r = c.form("/calculator", map[string]string{"item": "compute_voucher", "date": "yesterday"})
	if r.status != 400 {
		t.Errorf("bad date: %d", r.status)
	}
	r = c.form("/calculator", map[string]string{"item": "nope"})
	if r.status != 400 {
		t.Errorf("unknown item: %d", r.status)
	}
}

func TestLoginPages(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite), func(c *Config) {
		c.Demo = true
		c.DemoAccounts = []DemoAccount{{Login: "u-admin", Password: testPassword, Role: auth.RoleAdmin, Name: "管理员"}}
	})
	c := e.client()
	// A protected page sends a visitor to log in and back.
	r := c.do("GET", "/account", nil)
	if r.status != 303 || r.header.Get("Location") != "/login?next=%2Faccount" {
		t.Fatalf("visitor on /account: %d %q", r.status, r.header.Get("Location"))
	}
	body := string(c.do("GET", "/login?next=/account", nil).body)
	if !strings.Contains(body, `name="next" value="/account"`) || !strings.Contains(body, "演示账号") || !strings.Contains(body, "演示模式") {
		t.Fatal("login page lacks next or the demo accounts")
	}
	r = c.form("/login", map[string]string{"login": "u-admin", "password": "wrong password", "next": "/account"})
	if r.status != 401 || !strings.Contains(string(r.body), "登录名或密码错误") || !strings.Contains(string(r.body), `value="u-admin"`) {
		t.Fatalf("wrong password page: %d", r.status)
	}
	// An open redirect is not possible.
	for _, next := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"} {
		c := e.client()
		r := c.form("/login", map[string]string{"login": "u-admin", "password": testPassword, "next": next})
		if r.status != 303 || r.header.Get("Location") != "/" {
			t.Errorf("next=%q redirected to %q", next, r.header.Get("Location"))
		}
	}
	r = c.form("/login", map[string]string{"login": "u-admin", "password": testPassword, "next": "/account"})
	if r.status != 303 || r.header.Get("Location") != "/account" {
		t.Fatalf("login: %d %q", r.status, r.header.Get("Location"))
	}
	body = string(c.do("GET", "/account", nil).body)
	if !strings.Contains(body, "我的账号") || !strings.Contains(body, "测试管理员") || !strings.Contains(body, "退出") {
		t.Fatal("account page")
	}
	if r := c.do("GET", "/logout", nil); r.status != 200 || !strings.Contains(string(r.body), "退出登录") {
		t.Fatalf("logout page: %d", r.status)
	}
	if r := c.form("/logout", nil); r.status != 303 {
		t.Fatalf("logout: %d", r.status)
	}
	if r := c.do("GET", "/account", nil); r.status != 303 {
		t.Fatalf("signed out, /account: %d", r.status)
	}
}

func TestNoAdminNotice(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	b := testBundle(t)
	as := auth.NewStore(db)
	srv, err := New(Config{}, Deps{DB: db, Bundle: b, Auth: as, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv}
	e.ts = newTestServer(t, srv)
	if body := string(e.client().do("GET", "/", nil).body); !strings.Contains(body, "policydesk user add --role admin") {
		t.Fatal("no notice that the first admin is missing")
	}
}

func TestStaticFiles(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	c := e.client()
	for _, name := range []string{"vendor/htmx.min.js", "vendor/echarts.min.js", "css/site.css"} {
		u := e.srv.static.url(name)
		r := c.do("GET", u, nil)
		if r.status != 200 || len(r.body) < 1000 {
			t.Fatalf("%s: %d, %d bytes", u, r.status, len(r.body))
		}
		if r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.header.Get("ETag") == "" {
			t.Errorf("%s: cache headers %v", u, r.header)
		}
		if r2 := c.do("GET", u, nil, "If-None-Match", r.header.Get("ETag")); r2.status != 304 {
			t.Errorf("%s: If-None-Match gave %d", u, r2.status)
		}
	}
	if ct := c.do("GET", "/static/css/site.css", nil).header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("css content type %q", ct)
	}
	if r := c.do("GET", "/static/vendor/VERSIONS", nil); r.status != 200 || !strings.Contains(string(r.body), "Apache-2.0") {
		t.Errorf("VERSIONS: %d", r.status)
	}
	for _, p := range []string{"/static/", "/static/vendor/", "/static/nope.js", "/static/%2e%2e/templates/layout.html"} {
		if r := c.do("GET", p, nil); r.status != 404 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

// TestLoginPageGate: while sign-ins are closed (the demo making its data),
// the login page says so before anyone types a password; once open, it
// does not.
func TestLoginPageGate(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	c := e.client()
	e.auth.SetLoginGate(func() error {
		return apperr.New(apperr.Unavailable, "演示数据生成中(已完成 50%)", "demo data is being made")
	})
	r := c.do("GET", "/login", nil)
	if body := html.UnescapeString(string(r.body)); r.status != 200 || !strings.Contains(body, "演示数据生成中(已完成 50%)") {
		t.Fatalf("gated login page: %d, message missing", r.status)
	}
	e.auth.SetLoginGate(nil)
	r = c.do("GET", "/login", nil)
	if body := html.UnescapeString(string(r.body)); strings.Contains(body, "演示数据生成中") || strings.Contains(body, `role="alert"`) {
		t.Fatalf("open login page still shows a notice")
	}
}
