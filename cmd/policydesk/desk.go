package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"policydesk/auth"
	"policydesk/calendar"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/store"
	"policydesk/web/deskapi"
	"policydesk/web/portal"
)

func init() {
	serveHooks = append(serveHooks, wireDesk)
}

// loadKey returns the 16-byte SM4 key that seals bank accounts at rest:
// POLICYDESK_KEY (32 hex digits), or the key file in the data directory,
// made with mode 0600 on first start. Losing it loses the sealed fields.
func loadKey(getenv func(string) string, dataDir string) ([]byte, error) {
	if v := strings.TrimSpace(getenv("POLICYDESK_KEY")); v != "" {
		k, err := hex.DecodeString(v)
		if err != nil || len(k) != 16 {
			return nil, errors.New("POLICYDESK_KEY 应为32位十六进制 must be 32 hex digits (a 16-byte SM4 key)")
		}
		return k, nil
	}
	path := filepath.Join(dataDir, "sm4.key")
	if data, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(k) != 16 {
			return nil, fmt.Errorf("密钥文件 %s 损坏 key file is corrupt", path)
		}
		return k, nil
	}
	k := make([]byte, 16)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// wireDesk plugs the ledger and the workflow into `serve`: the service,
// its API routes, the pool gauges, the scheduler, start-up reconciliation,
// and in demo mode the demo data set.
func wireDesk(ctx context.Context, w *serveWiring) error {
	led, err := ledger.New(ctx, w.DB, ledger.Options{})
	if err != nil {
		return err
	}
	w.Closers = append(w.Closers, led.Close)
	key, err := loadKey(os.Getenv, w.DataDir)
	if err != nil {
		return err
	}
	experts := func(ctx context.Context) ([]string, error) {
		us, err := w.Auth.Users(ctx, auth.RoleExpert)
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, u := range us {
			if !u.Disabled {
				ids = append(ids, u.ID)
			}
		}
		return ids, nil
	}
	// A voucher claim (算力券/模型券 申领) reserves a quota that is redeemed
	// against confirmed settlements (package compute), never paid whole.
	paidElsewhere := func(ctx context.Context, tx *store.Tx, id string) (string, error) {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM compute_claims WHERE application_id = ?`, id).Scan(&n); err != nil {
			return "", err
		}
		if n > 0 {
			return "算力券/模型券额度按已确认的结算记录兑付", nil
		}
		return "", nil
	}
	svc, err := desk.New(w.DB, led, w.Bundle, desk.Options{Calendar: calendar.Default(), Key: key, Experts: experts, Logger: w.Logger,
		WebhookURL: os.Getenv("POLICYDESK_WEBHOOK_URL"), WebhookSecret: os.Getenv("POLICYDESK_WEBHOOK_SECRET"), PaidElsewhere: paidElsewhere})
	if err != nil {
		return err
	}
	deskForCompute = svc
	deskapi.Register(w.Server, svc)
	if err := portal.Register(w.Server, svc, w.Auth, portal.Options{}); err != nil {
		return err
	}
	for _, p := range w.Bundle.Pools {
		for y := 2024; y <= 2027; y++ {
			pool, year := p.ID, y
			w.Server.RegisterGauge(fmt.Sprintf("policydesk_pool_remaining_yuan_%s_%d", pool, year), "资金池余额 what is left in an annual pool, yuan", func() float64 {
				left, err := led.PoolRemaining(context.Background(), pool, year)
				if err != nil {
					return 0
				}
				return float64(left) / 100 // a gauge for Prometheus, not money arithmetic
			})
		}
	}
	if _, err := svc.FundPools(ctx, desk.System); err != nil {
		return err
	}
	if rep, err := svc.Reconcile(ctx); err != nil {
		return err
	} else if len(rep.Released)+len(rep.Missing) > 0 {
		w.Logger.Warn("启动对账 reconciliation at start", "released", rep.Released, "missing", rep.Missing)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(runCtx, time.Minute) }()
	w.Closers = append(w.Closers, func() error { cancel(); <-done; return nil })
	if w.Demo {
		w.Deps.Seed = func(ctx context.Context, db *store.DB) error {
			return seedDemo(ctx, w, db, led, key)
		}
	}
	for _, f := range afterDesk {
		if err := f(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// seedDemo makes the workflow's demo data with the demo users as actors.
func seedDemo(ctx context.Context, w *serveWiring, db *store.DB, led *ledger.Ledger, key []byte) error {
	actors := desk.DemoActors{Reviewers: map[string]string{}}
	var fin []string
	for _, u := range w.DemoUsers {
		switch u.Role {
		case auth.RoleAdmin:
			actors.Admin = u.ID
		case auth.RoleReviewer:
			actors.Reviewers[u.Department] = u.ID
		case auth.RoleExpert:
			actors.Experts = append(actors.Experts, u.ID)
		case auth.RoleFinance:
			fin = append(fin, u.ID)
		case auth.RoleEnterprise:
			actors.Enterprises = append(actors.Enterprises, u.Enterprise)
		}
	}
	if len(fin) < 2 {
		// Four eyes need two finance users; the second signs batches only
		// in the demo data.
		fin = append(fin, "demo-finance-checker")
	}
	actors.Finance = [2]string{fin[0], fin[1]}
	if actors.Admin == "" || len(actors.Experts) < 3 {
		return errors.New("demo: needs an admin and three experts")
	}
	rep, err := desk.SeedDemoProgress(ctx, db, led, w.Bundle, key, actors, 300, time.Now(), w.DemoProgress)
	if err != nil {
		return err
	}
	w.Logger.Info("演示数据 demo data", "enterprises", rep.Enterprises, "applications", rep.Applications, "by_state", rep.ByState)
	return nil
}
