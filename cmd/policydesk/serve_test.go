package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/store"
	"policydesk/store/storetest"
	"policydesk/uscc"
	"policydesk/web"
)

func init() { auth.SetParams(auth.TestParams) }

// syncBuffer is an io.Writer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var servingAt = regexp.MustCompile(`serving at (https?://[0-9.:]+)/`)

// startServe runs `policydesk serve args...` in-process and returns its
// base URL, its output, and a function that stops it (like SIGTERM) and
// returns the exit code.
func startServe(t *testing.T, args ...string) (string, *syncBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- dispatch(ctx, append([]string{"serve"}, args...), stdio{in: strings.NewReader(""), out: out, err: errb, getenv: func(string) string { return "" }})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingAt.FindStringSubmatch(out.String()); m != nil {
			var once sync.Once
			result := 0
			return m[1], out, func() int {
				once.Do(func() { cancel(); result = <-code })
				return result
			}
		}
		select {
		case c := <-code:
			cancel()
			t.Fatalf("serve exited %d: %s %s", c, out.String(), errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not start: %s %s", out.String(), errb.String())
	return "", nil, nil
}

// waitFor waits up to 10 s for text in the output of serve.
func waitFor(t *testing.T, out *syncBuffer, text string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(out.String(), text) {
			return
		}
	}
	t.Fatalf("no %q in the output: %s", text, out.String())
}

func get(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func TestServe(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		started, release := make(chan struct{}), make(chan struct{})
		hooked := false
		serveHooks = append(serveHooks, func(ctx context.Context, w *serveWiring) error {
			hooked = true
			w.Server.Handle(web.Route{Method: "GET", Pattern: "/api/v1/test/slow", Public: true, Summary: "test", Tag: "test",
				Handler: func(rw http.ResponseWriter, r *http.Request, _ auth.Principal) error {
					close(started)
					<-release
					return web.WriteJSON(rw, 200, map[string]string{"done": "yes"})
				}})
			w.Closers = append(w.Closers, func() error { hooked = false; return nil })
			// Every route of the whole server — the workflow's too — made
			// a permission decision.
			for _, rt := range w.Server.Routes() {
				if !rt.Declared() {
					t.Errorf("route %s declares neither Public nor Roles", rt.Key())
				}
			}
			return nil
		})
		t.Cleanup(func() { serveHooks = serveHooks[:len(serveHooks)-1] })

		base, out, stop := startServe(t, "--addr", "127.0.0.1:0", "--db", dsn, "--data-dir", t.TempDir())
		if !hooked {
			t.Fatal("serve hook not run")
		}
		if !strings.Contains(out.String(), "policydesk user add") {
			t.Errorf("no advice on creating the first admin: %s", out.String())
		}
		c := &http.Client{}
		for _, p := range []string{"/healthz", "/readyz", "/api/v1/openapi.json", "/metrics"} {
			if st, body, _ := get(t, c, base+p); st != 200 {
				t.Errorf("%s: %d %s", p, st, body)
			}
		}
		st, body, _ := get(t, c, base+"/")
		if st != 200 || !strings.Contains(body, "尚未创建管理员") {
			t.Errorf("/ without an admin: %d", st)
		}
		if st, body, _ := get(t, c, base+"/calculator"); st != 200 || !strings.Contains(body, "政策计算器") {
			t.Errorf("/calculator: %d", st)
		}
		// Shutdown drains a request in flight.
		slow := make(chan int, 1)
		go func() {
			res, err := http.Get(base + "/api/v1/test/slow")
			if err != nil {
				slow <- -1
				return
			}
			res.Body.Close()
			slow <- res.StatusCode
		}()
		<-started
		done := make(chan int, 1)
		go func() { done <- stop() }()
		time.Sleep(100 * time.Millisecond)
		close(release)
		if s := <-slow; s != 200 {
			t.Fatalf("in-flight request got %d during shutdown", s)
		}
		if code := <-done; code != 0 {
			t.Fatalf("serve exited %d: %s", code, out.String())
		}
		if hooked {
			t.Fatal("closers not run at shutdown")
		}
		if !strings.Contains(out.String(), "已停止") {
			t.Errorf("no stop message: %s", out.String())
		}
	})
}

func TestServeDemo(t *testing.T) {
	dir := t.TempDir()
	var seeded atomic.Int32
	serveHooks = append(serveHooks, func(ctx context.Context, w *serveWiring) error {
		if len(w.DemoUsers) != len(demoUsers) {
			t.Errorf("hook sees %d demo users", len(w.DemoUsers))
		}
		w.Deps.Seed = func(ctx context.Context, db *store.DB) error {
			seeded.Add(1)
			// Sign-ins wait while the data is being made.
			_, _, err := w.Auth.Login(ctx, "ent1", demoPassword("ent1"), "", time.Now())
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code != apperr.Unavailable || !strings.Contains(ae.Message, "演示数据生成中") {
				t.Errorf("login while seeding: %v", err)
			}
			for i := range 4 {
				w.DemoProgress(i+1, 4)
			}
			return nil
		}
		return nil
	})
	t.Cleanup(func() { serveHooks = serveHooks[:len(serveHooks)-1] })
	for run := 1; run <= 2; run++ { // the demo database is recreated each time
		base, out, stop := startServe(t, "--demo", "--addr", "127.0.0.1:0", "--data-dir", dir)
		waitFor(t, out, "演示数据已就绪")
		if int(seeded.Load()) != run {
			t.Fatalf("run %d: seeder called %d times", run, seeded.Load())
		}
		for _, u := range demoUsers {
			if !strings.Contains(out.String(), u.login) || !strings.Contains(out.String(), demoPassword(u.login)) {
				t.Errorf("demo login %s not printed", u.login)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "demo.db")); err != nil {
			t.Fatal(err)
		}
		c := &http.Client{}
		res, err := c.Post(base+"/api/v1/session", "application/json", strings.NewReader(`{"login": "ent1", "password": "`+demoPassword("ent1")+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var sr web.SessionResponse
		json.NewDecoder(res.Body).Decode(&sr)
		res.Body.Close()
		if res.StatusCode != 200 || sr.User.Role != auth.RoleEnterprise || uscc.Validate(sr.User.Enterprise) != nil {
			t.Fatalf("demo login: %d %+v", res.StatusCode, sr)
		}
		if !strings.Contains(res.Header.Get("Set-Cookie"), "pd_session=") || strings.Contains(res.Header.Get("Set-Cookie"), "Secure") {
			t.Errorf("demo on localhost: cookie %q", res.Header.Get("Set-Cookie"))
		}
		_, body, _ := get(t, c, base+"/login")
		if !strings.Contains(body, "演示账号") || !strings.Contains(body, demoPassword("reviewer")) {
			t.Error("login page lacks the demo accounts")
		}
		if code := stop(); code != 0 {
			t.Fatalf("demo exit %d", code)
		}
	}
	// Every role has a demo user, and every demo user is valid.
	roles := map[auth.Role]int{}
	for _, u := range demoUsers {
		roles[u.role]++
	}
	if len(roles) != 6 || roles[auth.RoleExpert] != 3 || roles[auth.RoleEnterprise] != 2 {
		t.Fatalf("demo roles %v", roles)
	}
	if code, _, _ := run(t, "", "serve", "--demo", "--db", "sqlite:///tmp/x.db"); code != 2 {
		t.Fatalf("--demo with --db: exit %d, want 2", code)
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	base, _, stop := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", dir, "--db", "sqlite://"+filepath.ToSlash(filepath.Join(dir, "t.db")),
		"--tls-cert", certFile, "--tls-key", keyFile)
	defer stop()
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("URL %s", base)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	st, _, h := get(t, c, base+"/healthz")
	if st != 200 || !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("https healthz: %d %v", st, h)
	}
	res, err := c.Post(base+"/api/v1/session", "application/json", strings.NewReader(`{"login": "x", "password": "yyyyyyyyyyyy"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if sc := res.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "__Host-pd_session=") || !strings.Contains(sc, "Secure") {
		t.Fatalf("TLS cookie %q", sc)
	}
	if code, _, _ := run(t, "", "serve", "--tls-cert", certFile); code != 2 {
		t.Fatalf("--tls-cert alone: exit %d", code)
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cf, kf
}

// TestServeTrustedOrigin: --trusted-origin lets a named other origin (the
// zone's portal, say) post here; any other cross-origin post is refused
// with 403 and a code; a malformed origin stops serve at start.
func TestServeTrustedOrigin(t *testing.T) {
	base, _, stop := startServe(t, "--addr", "127.0.0.1:0", "--db", "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "o.db")),
		"--data-dir", t.TempDir(), "--trusted-origin", "https://portal.example.cn, https://oa.example.cn")
	defer stop()
	post := func(origin string) (int, string) {
		req, _ := http.NewRequest("POST", base+"/api/v1/evaluate", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, o := range []string{"https://portal.example.cn", "https://oa.example.cn"} {
		if st, body := post(o); st == http.StatusForbidden {
			t.Errorf("trusted %s refused: %d %s", o, st, body)
		}
	}
	if st, body := post("https://evil.example.com"); st != http.StatusForbidden || !strings.Contains(body, `"forbidden"`) {
		t.Errorf("untrusted origin: %d %s", st, body)
	}

	var out, errb syncBuffer
	code := dispatch(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--trusted-origin", "not a url"},
		stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(string) string { return "" }})
	if code == 0 || !strings.Contains(errb.String(), "trusted") {
		t.Errorf("a malformed origin: exit %d, %s", code, errb.String())
	}
}
