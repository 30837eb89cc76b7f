package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"policydesk/desk"
	"policydesk/store"
	"policydesk/store/storetest"
	"policydesk/uscc"
	"policydesk/web/portal"
)

// The browser test drives Debian's chromium through the pages, as the
// people of the workflow would. POLICYDESK_BROWSER names the binary; CI
// sets it, so that a missing browser fails there instead of skipping.
// POLICYDESK_SCREENSHOTS is where the screenshots go (artifacts/screenshots
// at the repository's root by default); POLICYDESK_DOC_SCREENSHOTS=1 also
// refreshes the few kept in docs/screenshots.

const envBrowser = "POLICYDESK_BROWSER"

func browserPath(t *testing.T) string {
	if p := os.Getenv(envBrowser); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envBrowser, p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("no chromium found: install it (apt-get install chromium) or set %s to run the browser test", envBrowser)
	return ""
}

// repoRoot is the directory of go.mod above the test's directory.
func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = up
	}
}

// browser is one person's browser: its own cookies (a browser context of
// its own), at 1366×768.
type browser struct {
	t     *testing.T
	name  string
	base  string
	ctx   context.Context
	shots string
	docs  string

	mu   sync.Mutex
	errs []string // console errors, exceptions and CSP reports
}

type browsers struct {
	t      *testing.T
	alloc  context.Context
	root   context.Context
	base   string
	shots  string
	docs   string
	opened []*browser
}

func newBrowsers(t *testing.T, base string) *browsers {
	path := browserPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("lang", "zh-CN"), chromedp.Env("LANGUAGE=zh_CN"), chromedp.WindowSize(1366, 768),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("font-render-hinting", "none"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil { // start the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	bs := &browsers{t: t, alloc: alloc, root: root, base: base}
	bs.shots = os.Getenv("POLICYDESK_SCREENSHOTS")
	if bs.shots == "" {
		bs.shots = filepath.Join(repoRoot(t), "artifacts", "screenshots")
	}
	if err := os.MkdirAll(bs.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("POLICYDESK_DOC_SCREENSHOTS") == "1" {
		bs.docs = filepath.Join(repoRoot(t), "docs", "screenshots")
		if err := os.MkdirAll(bs.docs, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bs
}

// open starts a browser for name in a browser context of its own.
func (bs *browsers) open(name string) *browser {
	ctx, cancel := chromedp.NewContext(bs.root, chromedp.WithNewBrowserContext())
	bs.t.Cleanup(cancel)
	b := &browser{t: bs.t, name: name, base: bs.base, ctx: ctx, shots: bs.shots, docs: bs.docs}
	if err := chromedp.Listen(ctx, b.listen); err != nil {
		bs.t.Fatal(err)
	}
	b.do(cdpDo(cdplog.Enable, cdp.Empty{}), chromedp.EmulateViewport(1366, 768))
	bs.opened = append(bs.opened, b)
	return b
}

func (b *browser) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			msg = "console.error: " + strings.Join(parts, " ")
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError || strings.Contains(ev.Entry.Text, "Content Security Policy") {
			msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
		}
	}
	if msg != "" {
		b.mu.Lock()
		b.errs = append(b.errs, msg)
		b.mu.Unlock()
	}
}

// do runs actions with a time limit, failing the test on an error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (at %s)", b.name, err, b.location())
	}
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, js, err)
	}
	return v
}

// checkPage fails on what no page may have: script errors or CSP reports,
// a form control without a label, or content wider than the window.
func (b *browser) checkPage() {
	b.t.Helper()
	b.mu.Lock()
	errs := b.errs
	b.errs = nil
	b.mu.Unlock()
	if len(errs) > 0 {
		b.t.Fatalf("%s at %s: the browser reported:\n%s", b.name, b.location(), strings.Join(errs, "\n"))
	}
	unlabelled := eval[[]string](b, `Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
		.filter(el => !el.hidden && el.labels.length === 0 && !el.getAttribute('aria-label'))
		.map(el => el.outerHTML.slice(0, 120))`)
	if len(unlabelled) > 0 {
		b.t.Fatalf("%s at %s: form controls without a label:\n%s", b.name, b.location(), strings.Join(unlabelled, "\n"))
	}
	if over := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		b.t.Fatalf("%s at %s: the page is %dpx wider than the window", b.name, b.location(), over)
	}
}

// visit opens a page and checks it.
func (b *browser) visit(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitReady("body"))
	b.checkPage()
}

// submit clicks a button that sends a form and waits for the next page.
func (b *browser) submit(sel string) {
	b.t.Helper()
	b.do(js(`document.body.dataset.old = "1"`),
		chromedp.Click(chromedp.CSS(sel)),
		chromedp.WaitReady(chromedp.CSS(`body:not([data-old])`)))
	b.checkPage()
}

// flash is the page's one-time message ("error: …" for a refusal).
func (b *browser) flash() string {
	b.t.Helper()
	return eval[string](b, `(() => { const f = document.querySelector('.flash'); return f ? (f.classList.contains('error') ? 'error: ' : '') + f.textContent.trim() : '' })()`)
}

func (b *browser) wantFlash(step, want string) {
	b.t.Helper()
	if got := b.flash(); !strings.Contains(got, want) {
		b.t.Fatalf("%s, %s: message %q, want %q (at %s)", b.name, step, got, want, b.location())
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, `document.querySelector(`+jsString(sel)+`)?.textContent ?? ''`)
}

func (b *browser) wantText(step, sel string, wants ...string) {
	b.t.Helper()
	got := b.text(sel)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			b.t.Fatalf("%s, %s: %s lacks %q", b.name, step, sel, w)
		}
	}
}

// js runs a script for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// cdpDo sends one protocol command.
func cdpDo[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cmd, params)
		return err
	})
}

func jsString(s string) string { data, _ := json.Marshal(s); return string(data) }

// fill sets form fields by CSS selector.
func (b *browser) fill(pairs ...string) {
	b.t.Helper()
	var acts []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(pairs); i += 2 {
		acts = append(acts, chromedp.SetValue(chromedp.CSS(pairs[i]), pairs[i+1]))
	}
	b.do(acts...)
}

// shot saves a screenshot of the viewport (or of the whole page) as NAME.png.
func (b *browser) shot(name string, full bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	var data []byte
	var err error
	if full {
		data, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	} else {
		data, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if _, err := png.DecodeConfig(bytes.NewReader(data)); err != nil {
		b.t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// docShot is a viewport screenshot also kept in docs/screenshots when
// POLICYDESK_DOC_SCREENSHOTS=1.
func (b *browser) docShot(name string) {
	b.t.Helper()
	b.shot(name, false)
	if b.docs == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join(b.shots, name+".png"))
	if err == nil {
		data, err = smallPNG(data)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(b.docs, name+".png"), data, 0o644)
	}
	if err != nil {
		b.t.Fatal(err)
	}
}

// smallPNG re-encodes a screenshot with the 256 colours it uses most, for
// the repository: pages are flat colours and text, so it stays legible at a
// third of the size.
func smallPNG(data []byte) ([]byte, error) {
	src, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	counts := map[color.RGBA]int{}
	bounds := src.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			counts[color.RGBAModel.Convert(src.At(x, y)).(color.RGBA)]++
		}
	}
	type cc struct {
		c color.RGBA
		n int
	}
	var all []cc
	for c, n := range counts {
		all = append(all, cc{c, n})
	}
	slices.SortFunc(all, func(a, b cc) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return int(a.c.R)<<16 + int(a.c.G)<<8 + int(a.c.B) - (int(b.c.R)<<16 + int(b.c.G)<<8 + int(b.c.B))
	})
	var pal color.Palette
	for _, c := range all[:min(256, len(all))] {
		pal = append(pal, c.c)
	}
	dst := image.NewPaletted(bounds, pal)
	draw.Draw(dst, bounds, src, bounds.Min, draw.Src)
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, dst); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (b *browser) login(login string) {
	b.t.Helper()
	b.visit("/login")
	// Typed, as a person would, and sent with Enter: no mouse.
	b.do(chromedp.SendKeys(chromedp.CSS("#login"), login), js(`document.body.dataset.old = "1"`),
		chromedp.SendKeys(chromedp.CSS("#password"), password+kb.Enter),
		chromedp.WaitReady(chromedp.CSS(`body:not([data-old])`)))
	b.checkPage()
	if loc := b.location(); strings.Contains(loc, "/login") {
		b.t.Fatalf("%s could not sign in: %s", login, b.text(".error"))
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBrowser is the path in a real browser: an enterprise uses the
// calculator, applies with uploads, gets 补正 and resubmits; a reviewer
// accepts and forms a panel; an expert declares no conflict and scores; an
// admin publishes 公示; a visitor objects; the department dismisses the
// objection; finance batches, approves with four eyes and pays; the
// enterprise sees its receipt; the dashboard draws its charts with the
// numbers of the API. Every page is checked for script errors and CSP
// reports, unlabelled form controls and horizontal overflow, at 1366×768
// and on a phone.
func TestBrowser(t *testing.T) {
	began := time.Now()
	db := storetest.New(t, store.SQLite)
	e := newEnv(t, db)
	rep := e.seed(60)
	seeded := time.Since(began)
	bs := newBrowsers(t, e.ts.URL)
	t.Logf("seeded %d enterprises, %d applications in %s; browser started in %s", rep.Enterprises, rep.Applications,
		seeded.Round(time.Millisecond), (time.Since(began) - seeded).Round(time.Millisecond))
	ctx := context.Background()
	admin := desk.Actor{ID: e.users["admin"].ID, Role: desk.RoleAdmin}
	// The enterprise is registered with a bank account; it has declared
	// where it operates but not its penalty record, which the form asks for.
	entActor := desk.Actor{ID: e.users["ent"].ID, Role: desk.RoleEnterprise, Enterprise: entA}
	if _, err := e.svc.RegisterEnterprise(ctx, admin, entA, "北京亦庄智算科技有限公司"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetBankAccount(ctx, entActor, entA, "北京银行经济技术开发区支行", "20000000012345678"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetFacts(ctx, entActor, entA, map[string]json.RawMessage{"in_etown": json.RawMessage("true"), "serious_dishonesty_listed": json.RawMessage("false")}, desk.SourceSelf, "2026-01-05"); err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	contract := writeFile(t, files, "算力服务合同.pdf", pdf("contract"))
	settlement := writeFile(t, files, "结算单及发票.pdf", pdf("settlement"))
	proof := writeFile(t, files, "付款凭证.pdf", pdf("proof"))
	reply := writeFile(t, files, "补正说明.pdf", pdf("reply"))

	// The public pages, before signing in.
	visitor := bs.open("visitor")
	visitor.visit("/")
	visitor.docShot("home")

	// 1. The enterprise signs in and uses the calculator.
	ent := bs.open("enterprise")
	ent.login("ent")
	ent.visit("/calculator?item=compute_voucher")
	ent.fill("#f\\.year", "2026", "#f\\.compute_fees", "600万")
	ent.submit("form.calc button[type=submit]")
	ent.wantText("calculator", ".result", "符合条件", "180 万元", "第一条")
	ent.shot("calculator", true)

	ent.visit("/me/benefits")
	ent.wantText("benefits", "main", "我能获得什么", "算力券")
	ent.shot("benefits", true)

	// 2. It applies: the form asks for the facts still missing and names
	// each material; it uploads them, signs and submits.
	ent.visit("/me/applications/new?item=compute_voucher")
	ent.wantText("form", "form.calc", "重大行政处罚和刑事犯罪记录", "算力服务合同", "算力结算单及发票", "付款凭证", "信用承诺")
	if n := eval[int](ent, `document.querySelectorAll('[name="ent.in_etown"]').length`); n != 0 {
		t.Fatal("the form asks again for a fact on record (in_etown)")
	}
	ent.fill("#f\\.year", "2026", "#f\\.compute_fees", "6000000")
	ent.do(chromedp.SetUploadFiles(chromedp.CSS("#mat-contract"), []string{contract}),
		chromedp.SetUploadFiles(chromedp.CSS("#mat-settlement"), []string{settlement}),
		chromedp.SetUploadFiles(chromedp.CSS("#mat-payment_proof"), []string{proof}),
		chromedp.Click(chromedp.CSS(`input[name=commitment]`)))
	ent.shot("application-form", true)
	ent.submit(`button[name=action][value=submit]`)
	ent.wantFlash("submit", "申请已提交")
	appID := regexp.MustCompile(`app_[0-9a-z]+`).FindString(ent.location())
	if appID == "" {
		t.Fatalf("no application id in %s", ent.location())
	}
	ent.wantText("submitted", "main", "算力服务合同.pdf", "计算过程", "1,800,000.00")

	// 3. The reviewer returns it for 补正 from the queue.
	rev := bs.open("reviewer")
	rev.login("rev")
	rev.visit("/review")
	rev.do(chromedp.Click(chromedp.CSS(`input[name=ids][value="` + appID + `"]`)))
	rev.fill("#bulk-msg", "请补充加盖公章的合同扫描件，并核对发票金额。")
	rev.docShot("review-queue")
	rev.submit(`button[name=action][value=return]`)
	rev.wantFlash("return", "已退回补正")

	// 4. The enterprise sees it in its inbox and on the application,
	// uploads a reply and submits again.
	ent.visit("/inbox")
	ent.wantText("inbox", "main", "申请被退回补正", "请补充加盖公章的合同扫描件")
	ent.visit("/applications/" + appID)
	ent.wantText("correction", ".correction", "需要补正", "请补充加盖公章的合同扫描件")
	ent.shot("correction", true)
	ent.do(chromedp.SetUploadFiles(chromedp.CSS("#up-other"), []string{reply}))
	ent.submit(`form.upload button[type=submit]`)
	ent.wantFlash("upload", "材料已上传")
	ent.submit(`form[action$="/submit"] button[type=submit]`)
	ent.wantFlash("resubmit", "申请已提交")

	// 5. The reviewer accepts (the trace beside the materials) and forms a
	// panel of one expert.
	rev.visit("/applications/" + appID)
	rev.wantText("review page", ".split", "补正说明.pdf", "计算过程", "第一条")
	rev.docShot("review-application")
	rev.submit(`form[action$="/accept"] button[type=submit]`)
	rev.wantFlash("accept", "形式审查通过")
	rev.do(chromedp.Click(chromedp.CSS(`input[name=experts][value="` + e.users["exp1"].ID + `"]`)))
	rev.submit(`form[action$="/panel"] button[type=submit]`)
	rev.wantFlash("panel", "专家组已组建")

	// 6. The expert declares no conflict, then scores.
	exp := bs.open("expert")
	exp.login("exp1")
	exp.visit("/expert")
	exp.submit(`a[href="/applications/` + appID + `"]`)
	if strings.Contains(exp.text("main"), entA) {
		t.Fatal("the expert sees the applicant before declaring")
	}
	exp.do(chromedp.Click(chromedp.CSS(`input[name=conflict][value=no]`)))
	exp.submit(`form[action$="/declaration"] button[type=submit]`)
	exp.wantFlash("declare", "已声明无利益冲突")
	exp.fill("#score0", "82", "#score1", "88", "#score2", "90", "#amount", "1500000", "#comment", "算力使用真实，同意支持")
	exp.shot("expert-score", true)
	exp.submit(`form[action$="/score"] button[type=submit]`)
	exp.wantFlash("score", "评分已提交")

	// 7. The department consolidates; the admin publishes the 公示.
	rev.visit("/applications/" + appID)
	rev.submit(`form[action$="/consolidate"] button[type=submit]`)
	rev.wantFlash("consolidate", "拟予支持")
	adm := bs.open("admin")
	adm.login("admin")
	adm.visit("/review?state=proposed")
	adm.do(chromedp.Click(chromedp.CSS(`input[name=ids][value="` + appID + `"]`)))
	adm.fill("#bulk-title", "2026年第一批政策兑现拟支持名单")
	adm.submit(`button[name=action][value=publish]`)
	adm.wantFlash("publish", "已发布公示")
	pubPath := strings.TrimPrefix(adm.location(), e.ts.URL)

	// 8. A visitor objects, by name.
	visitor.visit("/publicity")
	visitor.wantText("公示 list", "main", "2026年第一批政策兑现拟支持名单", "正在公示")
	visitor.visit(pubPath)
	visitor.wantText("公示", "table.publicity", "北京亦庄智算科技有限公司", "1,500,000.00")
	visitor.docShot("publicity")
	visitor.do(chromedp.SetValue(chromedp.CSS("#obj-app"), appID))
	visitor.fill("#obj-name", "王先生", "#obj-contact", "13800138000", "#obj-text", "该项目与另一政策支持的项目疑似重复，请核实。")
	visitor.submit(`form[action$="/objections"] button[type=submit]`)
	visitor.wantFlash("objection", "异议已受理")
	if st := e.state(appID); st != desk.StateObjected {
		t.Fatalf("after the objection: %s", st)
	}

	// 9. The department dismisses it; after the window the award is approved.
	rev.visit("/applications/" + appID)
	rev.wantText("objection", ".objection", "王先生", "13800138000")
	rev.do(chromedp.Click(chromedp.CSS(`input[name=upheld][value=no]`)))
	rev.fill(`textarea[name=resolution]`, "经核实，两项目不重复。")
	rev.submit(`form[action$="/resolution"] button[type=submit]`)
	rev.wantFlash("resolve", "异议不成立")
	e.clock.Add(10 * 24 * time.Hour)
	if _, _, err := e.svc.CloseWindows(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.state(appID); st != desk.StateApproved {
		t.Fatalf("after the window: %s", st)
	}

	// 10. Finance: a batch, the second pair of eyes, the payment.
	fin1 := bs.open("finance")
	fin1.login("fin1")
	fin1.visit("/finance")
	fin1.do(chromedp.Click(chromedp.CSS(`input[name=ids][value="` + appID + `"]`)))
	fin1.submit(`form[action="/finance/batches"] button[type=submit]`)
	fin1.wantFlash("batch", "已创建拨付批次：1 笔")
	batchPath := strings.TrimPrefix(fin1.location(), e.ts.URL)
	fin1.wantText("creator", "main", "须由另一位财政人员审批")
	fin2 := bs.open("finance checker")
	fin2.login("fin2")
	fin2.visit(batchPath)
	fin2.fill("#ap-count", "1", "#ap-total", "1500000.00")
	fin2.submit(`form[action$="/approval"] button[type=submit]`)
	fin2.wantFlash("approve", "批次已审批")
	fin1.visit(batchPath)
	fin1.fill("#ref-"+appID, "BJBANK20260316001")
	fin1.submit(`form.pay-form button[value=paid]`)
	fin1.wantFlash("pay", "已登记拨付")
	fin1.docShot("batch")
	if st := e.state(appID); st != desk.StatePaid {
		t.Fatalf("after payment: %s", st)
	}

	// 11. The enterprise's receipt, printable.
	ent.visit("/me/payments")
	ent.wantText("payments", "main", "1,500,000.00", "BJBANK20260316001")
	ent.visit("/applications/" + appID)
	ent.wantText("timeline", ".timeline", "退回补正", "专家评审中", "公示异议处理中", "已批准", "已拨付")
	ent.shot("application-paid", true)
	ent.visit("/applications/" + appID + "/letter")
	ent.wantText("letter", ".letter", "政策兑现资金拨付回执", "BJBANK20260316001")
	ent.do(cdpDo(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}))
	if eval[string](ent, `getComputedStyle(document.querySelector('header.site nav')).display`) != "none" {
		t.Fatal("the letter prints the navigation")
	}
	ent.shot("letter-print", true)
	ent.do(cdpDo(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}))

	// 12. The admin imports a 免申即享 list (国家高新技术企业); the listed
	// enterprises the engine finds eligible accept their offers.
	var csv strings.Builder
	csv.WriteString("uscc,name,date\n")
	for i := range 8 {
		fmt.Fprintf(&csv, "%s,,2026-01-15\n", uscc.Complete(fmt.Sprintf("91110302MA%07X", 0x1A0000+i)))
	}
	list := writeFile(t, files, "高新技术企业名单.csv", []byte(csv.String()))
	adm.visit("/admin")
	adm.do(chromedp.SetValue(chromedp.CSS("#of-item"), "high_tech"), chromedp.SetUploadFiles(chromedp.CSS("#of-file"), []string{list}))
	adm.fill("#of-source", "2026年度国家高新技术企业认定名单")
	adm.submit(`form[action="/admin/offers/import"] button[type=submit]`)
	adm.wantText("import", "#im-h + p", "共 8 行", "生成")
	adm.shot("admin", true)
	offers, err := e.svc.Offers(ctx, admin, "open")
	if err != nil || len(offers) == 0 {
		t.Fatalf("offers after the import: %d %v", len(offers), err)
	}
	for _, o := range offers {
		if _, err := e.svc.AcceptOffer(ctx, desk.Actor{ID: "demo-ent-" + o.USCC, Role: desk.RoleEnterprise, Enterprise: o.USCC}, o.ID); err != nil {
			t.Fatal(err)
		}
	}

	// 13. The dashboard draws every chart, with the API's numbers.
	adm.visit("/dashboard")
	adm.do(chromedp.WaitReady(chromedp.CSS(`#chart-offers[data-rendered]`)))
	adm.checkPage()
	drawn := eval[map[string]int](adm, `(() => { const out = {};
		document.querySelectorAll('[data-chart]').forEach(el => {
			const c = el.querySelector('canvas');
			if (!c) { out[el.dataset.chart] = -1; return; }
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
			out[el.dataset.chart] = n;
		}); return out; })()`)
	for _, name := range []string{"goals", "pools", "articles", "departments", "funnel", "cycle", "offers"} {
		if drawn[name] < 500 {
			t.Errorf("chart %s: %d pixels drawn", name, drawn[name])
		}
	}
	adm.docShot("dashboard")
	adm.shot("dashboard-full", true)
	var d portal.Dashboard
	getJSON(t, e.as("admin"), "/api/v1/dashboard", &d)
	series := func(chart string, i int) []float64 {
		return eval[[]float64](adm, `echarts.getInstanceByDom(document.getElementById('chart-`+chart+`')).getOption().series[`+fmt.Sprint(i)+`].data.map(x => typeof x === 'object' ? x.value : x)`)
	}
	var wantFunnel []float64
	for _, s := range d.Funnel {
		wantFunnel = append(wantFunnel, float64(s.Count))
	}
	if got := series("funnel", 0); fmt.Sprint(got) != fmt.Sprint(wantFunnel) {
		t.Errorf("funnel chart %v, API %v", got, wantFunnel)
	}
	var wantPaid []float64
	for _, l := range d.ByArticle {
		wantPaid = append(wantPaid, math.Round(float64(l.PaidFen)/1e4)/100) // as the chart rounds, for display
	}
	if got := series("articles", 0); fmt.Sprint(got) != fmt.Sprint(wantPaid) {
		t.Errorf("articles chart (paid, 万元) %v, API %v", got, wantPaid)
	}
	if got := series("offers", 0); len(got) != 2 || int(got[0]) != d.Offers.FromOffers || int(got[0]+got[1]) != d.Offers.Applications {
		t.Errorf("offers chart %v, API %+v", got, d.Offers)
	}
	if got := series("cycle", 0); len(got) != 4 || got[0] != d.Cycle.MedianDays || got[1] != d.Cycle.P90Days || got[3] != portal.BaselineDays {
		t.Errorf("cycle chart %v, API %+v", got, d.Cycle)
	}
	// 13b. The same page in English, by the header's switch (a click, no
	// address typed): the layout, the charts' labels and the numbers.
	adm.do(js(`document.body.dataset.old = "1"`), chromedp.Click(chromedp.CSS(`header a[hreflang="en"]`)),
		chromedp.WaitReady(chromedp.CSS(`body:not([data-old]) #chart-offers[data-rendered]`)))
	adm.checkPage()
	if lang := eval[string](adm, `document.documentElement.lang`); lang != "en" {
		t.Fatalf("after the switch the page is %q", lang)
	}
	adm.wantText("English dashboard", "main", "Dashboard", "Application funnel", "Download data .xlsx")
	if got := series("funnel", 0); fmt.Sprint(got) != fmt.Sprint(wantFunnel) {
		t.Errorf("English funnel chart %v, API %v", got, wantFunnel)
	}
	if name := eval[string](adm, `echarts.getInstanceByDom(document.getElementById('chart-cycle')).getOption().yAxis[0].name`); name != "days" {
		t.Errorf("English cycle chart's axis is %q", name)
	}
	adm.docShot("dashboard-en")
	adm.do(js(`document.body.dataset.old = "1"`), chromedp.Click(chromedp.CSS(`header a[hreflang="zh-CN"]`)),
		chromedp.WaitReady(chromedp.CSS(`body:not([data-old])`)))
	if lang := eval[string](adm, `document.documentElement.lang`); lang != "zh-CN" {
		t.Fatalf("after switching back the page is %q", lang)
	}
	// And the API's numbers are those of the applications themselves.
	var paid, clawed []desk.Application
	getJSON(t, e.as("admin"), "/api/v1/applications?state=paid&limit=500", &paid)
	getJSON(t, e.as("admin"), "/api/v1/applications?state=clawed_back&limit=500", &clawed)
	if last := d.Funnel[len(d.Funnel)-1]; last.Count != len(paid)+len(clawed) || d.Cycle.Count != last.Count {
		t.Errorf("funnel reached paid %d, cycle count %d; the API lists %d paid and %d clawed back", last.Count, d.Cycle.Count, len(paid), len(clawed))
	}
	var net int64
	for _, a := range append(paid, clawed...) {
		net += int64(a.Paid) - int64(a.Clawed)
	}
	if net != d.Totals.PaidFen {
		t.Errorf("paid: API %d fen, dashboard %d", net, d.Totals.PaidFen)
	}
	for _, p := range d.Pools {
		for _, y := range p.Years {
			if y.Funded && !y.LedgerMatches {
				t.Errorf("pool %s %d: budget %d − committed %d ≠ ledger %d", p.Pool, y.Year, y.BudgetFen, y.CommittedFen, y.RemainingFen)
			}
		}
	}

	if d.Offers.FromOffers != len(offers) {
		t.Errorf("免申即享: dashboard %d, accepted %d", d.Offers.FromOffers, len(offers))
	}

	// 14. More pages for the record, and a phone.
	ent.visit("/me/applications")
	ent.docShot("enterprise-applications")
	// The filter swaps the list in place with htmx and keeps the address.
	ent.do(chromedp.SetValue(chromedp.CSS("#f-state"), "paid"),
		js(`document.querySelector('#f-state').dispatchEvent(new Event('change', {bubbles: true}))`))
	if got := eval[string](ent, `new Promise(ok => { const t0 = Date.now(); (function poll() {
		if (location.search.includes('state=paid') || Date.now() - t0 > 5000) ok(location.search); else setTimeout(poll, 50); })(); })`); !strings.Contains(got, "state=paid") {
		t.Fatalf("the filter did not swap the list: %q", got)
	}
	ent.wantText("filtered list", "#list", appID, "已拨付")
	ent.checkPage()
	exp.visit("/expert")
	exp.shot("expert-tasks", false)
	for _, b := range []*browser{ent, visitor} {
		b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	}
	ent.visit("/me/applications")
	ent.shot("phone-applications", false)
	ent.visit("/applications/" + appID)
	ent.shot("phone-application", false)
	visitor.visit(pubPath)
	visitor.shot("phone-publicity", false)
	t.Logf("browser test took %s", time.Since(began).Round(time.Millisecond))
}
