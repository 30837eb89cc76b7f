package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"policydesk/auth"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/web"
)

func init() {
	register("serve", "启动网站和 API 服务 serve the web platform (--demo: with demo data)", runServe)
}

// serveWiring is what `serve` hands to the hooks of other files of this
// package, which plug the workflow in without editing this file:
//
//	func init() { serveHooks = append(serveHooks, wireDesk) }
//	func wireDesk(ctx context.Context, w *serveWiring) error {
//		led, err := ledger.New(ctx, w.DB, ledger.Options{})
//		…
//		w.Closers = append(w.Closers, led.Close)
//		for _, rt := range deskRoutes(svc) { w.Server.Handle(rt) }
//		w.Server.RegisterGauge("policydesk_pool_left_yuan", "…", fn)
//		w.Deps.Seed = func(ctx context.Context, db *store.DB) error { … }
//		return nil
//	}
//
// Hooks run after the server is built and before it takes traffic; in demo
// mode, Deps.Seed runs after the demo users exist.
type serveWiring struct {
	DB      *store.DB
	Bundle  *policy.Bundle
	Auth    *auth.Store
	Server  *web.Server
	Deps    *web.Deps // set Deps.Seed here
	Logger  *slog.Logger
	Demo    bool
	DataDir string
	// DemoUsers are the demo accounts by role (demo mode only), so that a
	// seeder can make the enterprise users' enterprises and so on.
	DemoUsers []auth.User
	// DemoProgress, in demo mode, is told how far Deps.Seed is (done steps
	// of total); the seeder calls it after each step.
	DemoProgress func(done, total int)
	Closers      []func() error // run at shutdown, after the server drained, last first
}

var serveHooks []func(ctx context.Context, w *serveWiring) error

// demoUser is one demo account. Passwords are deterministic and printed:
// the demo is for looking around, never for real data.
type demoUser struct {
	login, name string
	role        auth.Role
	enterprise  string
	department  string
}

var demoUsers = []demoUser{
	{login: "admin", name: "平台管理员", role: auth.RoleAdmin},
	{login: "finance", name: "财政国资局 张会计", role: auth.RoleFinance},
	{login: "reviewer", name: "信息技术产业局 李审核", role: auth.RoleReviewer, department: "info_tech"},
	{login: "expert1", name: "评审专家 王教授", role: auth.RoleExpert},
	{login: "expert2", name: "评审专家 赵研究员", role: auth.RoleExpert},
	{login: "expert3", name: "评审专家 陈高工", role: auth.RoleExpert},
	{login: "ent1", name: "北京亦庄智算科技有限公司", role: auth.RoleEnterprise, enterprise: "91110302MA01AB3C7G"},
	{login: "ent2", name: "北京星河模型科技有限公司", role: auth.RoleEnterprise, enterprise: "91110302MA01CD4E89"},
	{login: "provider", name: "亦庄算力服务有限公司", role: auth.RoleProvider, enterprise: "91110302MA01PR0Q13"},
}

func demoPassword(login string) string { return "demo-" + login + "-2024" }

func runServe(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("serve", io)
	addr := fs.String("addr", "", "监听地址 listen address HOST:PORT (default $POLICYDESK_ADDR, else 127.0.0.1:8080)")
	dsn := dbFlags(fs, io)
	demo := fs.Bool("demo", false, "演示模式 demo: a fresh SQLite database under the data directory (demo.db, recreated), demo users and data")
	certFile := fs.String("tls-cert", "", "TLS 证书 certificate file (PEM); with --tls-key serves HTTPS")
	keyFile := fs.String("tls-key", "", "TLS 私钥 key file (PEM)")
	ipHeader := fs.String("client-ip-header", "", "反向代理给出客户端地址的请求头 header a trusted reverse proxy sets to the client's address, e.g. X-Real-IP (default $POLICYDESK_CLIENT_IP_HEADER; empty: the connection's address). Login throttling counts failures per address")
	pprofAddr := fs.String("pprof", "", "性能分析 serve net/http/pprof on this loopback address, e.g. 127.0.0.1:6060 (default $POLICYDESK_PPROF; empty: off)")
	var origins []string
	fs.Func("trusted-origin", "可信来源 another origin allowed to post forms and API calls here, e.g. https://portal.etown.gov.cn (repeatable or comma-separated; default $POLICYDESK_TRUSTED_ORIGINS). Same-origin requests never need it", func(v string) error {
		origins = append(origins, splitList(v)...)
		return nil
	})
	bpath := bundleFlag(fs, io)
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	if len(origins) == 0 {
		origins = splitList(io.getenv("POLICYDESK_TRUSTED_ORIGINS"))
	}
	if *ipHeader == "" {
		*ipHeader = io.getenv("POLICYDESK_CLIENT_IP_HEADER")
	}
	if *addr == "" {
		*addr = io.getenv("POLICYDESK_ADDR")
	}
	if *pprofAddr == "" {
		*pprofAddr = io.getenv("POLICYDESK_PPROF")
	}
	if *addr == "" {
		*addr = "127.0.0.1:8080"
	}
	if (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(io.err, "serve: --tls-cert 和 --tls-key 须同时给出 give both --tls-cert and --tls-key")
		return 2
	}
	dataDir := fs.Lookup("data-dir").Value.String()
	if dataDir == "" {
		dataDir = io.getenv("POLICYDESK_DATA")
	}
	if dataDir == "" {
		dataDir = "data"
	}
	db := dsn()
	if *demo {
		if fs.Lookup("db").Value.String() != "" {
			fmt.Fprintln(io.err, "serve: --demo 使用数据目录下的 demo.db，不能与 --db 同用 (--demo recreates data/demo.db; it never touches a database given with --db)")
			return 2
		}
		db = "sqlite://" + filepath.ToSlash(filepath.Join(dataDir, "demo.db"))
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(filepath.Join(dataDir, "demo.db"+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(io.err, "serve: 无法重建演示数据库 cannot recreate the demo database: %v\n", err)
				return 1
			}
		}
	}
	if io.getenv("GOGC") == "" {
		// The live heap is small (tens of MB) and pages allocate briskly:
		// at the default 100 the collector runs many times a second under
		// load and its pauses show in the slowest answers. Four times the
		// live heap between collections costs little memory.
		debug.SetGCPercent(400)
	}
	log := slog.New(slog.NewJSONHandler(io.err, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := serve(ctx, serveConfig{addr: *addr, dsn: db, demo: *demo, dataDir: dataDir, cert: *certFile, key: *keyFile, bundle: *bpath, ipHeader: *ipHeader, pprof: *pprofAddr, origins: origins}, io, log); err != nil {
		fmt.Fprintf(io.err, "serve: %v\n", err)
		return 1
	}
	return 0
}

type serveConfig struct {
	addr, dsn, dataDir, cert, key, bundle, ipHeader, pprof string
	origins                                                []string
	demo                                                   bool
}

// splitList splits a comma-separated flag value, dropping empty parts.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func serve(ctx context.Context, c serveConfig, io stdio, log *slog.Logger) error {
	start := time.Now()
	bundle, err := loadBundle(c.bundle)
	if err != nil {
		return fmt.Errorf("政策包不能加载 policy bundle does not load: %w", err)
	}
	db, err := store.Open(ctx, c.dsn)
	if err != nil {
		return fmt.Errorf("无法打开数据库 cannot open the database: %w", err)
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("数据库升级失败 migration failed: %w", err)
	}
	for _, m := range applied {
		log.Info("migration applied", "version", m.Version, "name", m.Name)
	}
	authStore := auth.NewStoreWithOptions(db, auth.Options{
		ValidDepartment: func(id string) bool { return bundle.Department(id) != nil },
		RequestID:       web.RequestID,
		Logger:          log,
	})

	if c.pprof != "" {
		if err := servePprof(ctx, c.pprof, log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("无法监听 cannot listen on %s: %w", c.addr, err)
	}
	defer ln.Close()
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	tlsOn := c.cert != ""
	loopback := isLoopback(host)
	cfg := web.Config{SecureCookies: tlsOn || !loopback, TLS: tlsOn, Demo: c.demo, Version: "dev", ClientIPHeader: c.ipHeader, TrustedOrigins: c.origins}
	switch {
	case !tlsOn && loopback:
		log.Warn("plain HTTP on a loopback address: the session cookie is pd_session without Secure (development and demo only; production uses TLS and __Host-pd_session)")
	case !tlsOn:
		log.Warn("plain HTTP on a non-loopback address: expecting a TLS terminator in front; session cookies are Secure (__Host-pd_session) and browsers drop them over plain HTTP")
	}
	if c.demo {
		for _, u := range demoUsers {
			cfg.DemoAccounts = append(cfg.DemoAccounts, web.DemoAccount{Login: u.login, Password: demoPassword(u.login), Role: u.role, Name: u.name})
		}
	}
	deps := web.Deps{DB: db, Bundle: bundle, Auth: authStore, Logger: log}
	srv, err := web.New(cfg, deps)
	if err != nil {
		return fmt.Errorf("--trusted-origin 或配置无效 invalid configuration: %w", err)
	}
	w := &serveWiring{DB: db, Bundle: bundle, Auth: authStore, Server: srv, Deps: &deps, Logger: log, Demo: c.demo, DataDir: c.dataDir}
	var seeding *demoSeeding
	if c.demo {
		// The demo data is made after the server listens (see demoSeeding):
		// sign-ins wait for it with a message, everything else is served.
		seeding = &demoSeeding{out: io.out, log: log}
		w.DemoProgress = seeding.progress
	}
	defer func() {
		for i := len(w.Closers) - 1; i >= 0; i-- {
			if err := w.Closers[i](); err != nil {
				log.Warn("shutdown", "err", err)
			}
		}
	}()
	if c.demo {
		if w.DemoUsers, err = addDemoUsers(ctx, authStore); err != nil {
			return fmt.Errorf("演示账号 demo users: %w", err)
		}
	}
	for _, hook := range serveHooks {
		if err := hook(ctx, w); err != nil {
			return err
		}
	}
	if seeding != nil && deps.Seed != nil {
		authStore.SetLoginGate(seeding.gate)
	} else {
		seeding = nil
	}

	var tlsCfg *tls.Config
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			return fmt.Errorf("TLS 证书 certificate: %w", err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String() + "/"
	if c.demo {
		fmt.Fprintln(io.out, "演示模式 demo mode — 演示账号 demo logins:")
		for _, u := range demoUsers {
			fmt.Fprintf(io.out, "  %-10s %-18s %-10s %s\n", u.login, demoPassword(u.login), u.role, u.name)
		}
	} else if ok, err := authStore.HasAdmin(ctx); err == nil && !ok {
		fmt.Fprintln(io.out, "尚无管理员 no admin yet. 创建第一个管理员 create the first one:")
		fmt.Fprintf(io.out, "  policydesk user add --db '%s' --role admin --login admin --name 管理员 --password-file FILE\n", redactDSN(c.dsn))
	}
	// The URL comes last, so that it is what a person sees first.
	fmt.Fprintf(io.out, "policydesk 已启动 serving at %s  (%s, %s, 启动用时 %s; 按 Ctrl-C 停止 Ctrl-C stops)\n",
		url, db.Dialect(), redactDSN(c.dsn), time.Since(start).Round(time.Millisecond))
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	seeded := make(chan error, 1)
	if seeding != nil {
		go func() {
			err := seeding.run(runCtx, func(ctx context.Context) error { return deps.Seed(ctx, db) }, authStore, url)
			if err != nil {
				stopRun() // a demo without its data is no demo: stop serving
			}
			seeded <- err
		}()
	} else {
		seeded <- nil
	}
	err = srv.Run(runCtx, ln, tlsCfg)
	stopRun()
	if serr := <-seeded; serr != nil && ctx.Err() == nil {
		err = errors.Join(err, fmt.Errorf("演示数据 demo data: %w", serr))
	}
	fmt.Fprintln(io.out, "policydesk 已停止 stopped")
	return err
}

// addDemoUsers creates the demo accounts. Their passwords are published,
// so they are hashed with cheap parameters: the demo starts in well under a
// second instead of spending ~85 ms on each account.
func addDemoUsers(ctx context.Context, s *auth.Store) ([]auth.User, error) {
	old := auth.SetParams(auth.TestParams)
	defer auth.SetParams(old)
	ctx = auth.NewContext(ctx, cliPrincipal)
	var users []auth.User
	for _, d := range demoUsers {
		u, err := s.AddUser(ctx, nil, auth.User{Login: d.login, Name: d.name, Role: d.role, Enterprise: d.enterprise, Department: d.department}, demoPassword(d.login))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.login, err)
		}
		users = append(users, u)
	}
	return users, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactDSN hides a password in a DSN printed at start.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.Index(dsn[i+3:], "@"); at >= 0 {
			cred := dsn[i+3 : i+3+at]
			if u, _, ok := strings.Cut(cred, ":"); ok {
				return dsn[:i+3] + u + ":xxxxx" + dsn[i+3+at:]
			}
		}
	}
	return dsn
}
