// Package web is policydesk over HTTP: server-rendered pages in Simplified
// Chinese (html/template, embedded, no CDN) and a JSON API under /api/v1
// with its OpenAPI document, both served from one route table in which
// every route declares who may call it.
//
// Handlers return errors; one function maps them to HTTP. Middleware adds
// a request id, a structured access log, panic recovery, security headers,
// cross-origin protection and metrics.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"policydesk/auth"
	"policydesk/policy"
	"policydesk/store"
)

// Config is how the server behaves. Zero fields take the defaults.
type Config struct {
	// SecureCookies sends the session as __Host-pd_session with Secure.
	// Turn it off only for plain HTTP on localhost (development, demo):
	// the cookie is then pd_session without Secure.
	SecureCookies bool
	// TLS says the server itself terminates TLS (--tls-cert), so it sends
	// Strict-Transport-Security. Requests that arrive over TLS get it too.
	TLS bool
	// MaxBody bounds JSON request bodies, 1 MiB by default.
	MaxBody int64
	// ClientIPHeader names a header set by a trusted reverse proxy with the
	// client's address (e.g. X-Real-IP); empty: the connection's address.
	// Login throttling counts failures per address.
	ClientIPHeader string
	// TrustedOrigins are other origins allowed to send unsafe requests
	// (scheme://host[:port]); same-origin requests always are.
	TrustedOrigins []string
	// Demo shows the demo banner and, on the login page, the demo accounts.
	Demo         bool
	DemoAccounts []DemoAccount
	// ShutdownTimeout bounds how long Run waits for in-flight requests.
	ShutdownTimeout time.Duration
	Version         string
	// Now is the clock of sessions and the calculator's default date.
	Now func() time.Time
}

// DemoAccount is a demo login shown on the login page in demo mode.
type DemoAccount struct {
	Login    string
	Password string
	Role     auth.Role
	Name     string
}

// Deps are the services the server uses.
type Deps struct {
	DB     *store.DB
	Bundle *policy.Bundle
	Auth   *auth.Store
	Logger *slog.Logger
	// Seed fills a demo database; `policydesk serve --demo` calls it after
	// creating the demo users. The workflow's demo data set plugs in here.
	Seed func(ctx context.Context, db *store.DB) error
}

// Server is policydesk's HTTP server.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	mux     *http.ServeMux
	mu      sync.Mutex
	routes  []Route
	metrics *Metrics
	handler http.Handler
	pages   *template.Template
	pagesEn *template.Template // the English pages (lang.go)
	dict    *dictionary
	missing []string // template phrases without English
	cat     *catalog
	catEn   *catalog // the same in English (lang.go)
	static  *staticFiles

	draining  atomic.Bool
	adminSeen atomic.Bool // an admin exists (once true, stays true)
	adminAt   atomic.Int64
}

// New builds the server and its routes. Other packages' routes are added
// with Handle before the server takes traffic.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.DB == nil || deps.Bundle == nil || deps.Auth == nil {
		return nil, errors.New("web: Deps needs DB, Bundle and Auth")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, mux: http.NewServeMux(), metrics: NewMetrics()}
	var err error
	if s.static, err = loadStatic(); err != nil {
		return nil, err
	}
	s.cat = buildCatalog(deps.Bundle)
	if s.dict, err = loadDictionary(i18nFS); err != nil {
		return nil, err
	}
	s.dict.addBundleTerms(&s.cat.doc)
	s.catEn = englishCatalog(s.cat, s.dict)
	if s.pages, s.pagesEn, err = s.parseTemplates(); err != nil {
		return nil, err
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("web: trusted origin %q: %w", o, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
	s.mux.HandleFunc("/", s.notFound)
	for _, rt := range s.builtinRoutes() {
		s.Handle(rt)
	}
	s.handler = s.withRequestState(s.withAccessLog(s.withRecover(s.withSecurityHeaders(cop.Handler(s.mux)))))
	return s, nil
}

// Handler returns the server's root handler with all middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the server's metrics registry, for RegisterGauge.
func (s *Server) Metrics() *Metrics { return s.metrics }

// RegisterGauge adds a gauge to /metrics whose value fn computes at each
// scrape (pool balances, ledger batch sizes…).
func (s *Server) RegisterGauge(name, help string, fn func() float64) {
	s.metrics.RegisterGauge(name, help, fn)
}

// Run serves on ln until ctx ends, then stops taking new connections,
// reports not ready, and waits up to ShutdownTimeout for in-flight
// requests to finish. tlsCfg, when not nil, serves HTTPS.
func (s *Server) Run(ctx context.Context, ln net.Listener, tlsCfg *tls.Config) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // uploads on slow links
		WriteTimeout:      2 * time.Minute, // exports
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			srv.TLSConfig = tlsCfg
			errc <- srv.ServeTLS(ln, "", "") // certificates come from tlsCfg
			return
		}
		errc <- srv.Serve(ln)
	}()
	go s.purgeLoop(ctx)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: draining in-flight requests", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// purgeLoop removes expired sessions every ten minutes.
func (s *Server) purgeLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.deps.Auth.PurgeExpired(ctx, s.cfg.Now()); err != nil {
				s.log.Warn("purging expired sessions", "err", err)
			} else if n > 0 {
				s.log.Info("purged expired sessions", "count", n)
			}
		}
	}
}

// needsAdmin reports whether no admin exists yet, checking the database
// at most every 5 seconds until one does.
func (s *Server) needsAdmin(ctx context.Context) bool {
	if s.cfg.Demo || s.adminSeen.Load() {
		return false
	}
	now := time.Now().UnixNano()
	if last := s.adminAt.Load(); now-last < int64(5*time.Second) && last != 0 {
		return true
	}
	s.adminAt.Store(now)
	ok, err := s.deps.Auth.HasAdmin(ctx)
	if err != nil {
		return false
	}
	if ok {
		s.adminSeen.Store(true)
	}
	return !ok
}
