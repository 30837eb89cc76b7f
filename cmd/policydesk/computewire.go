package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"policydesk/auth"
	"policydesk/compute"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/store"
	"policydesk/web/computeapi"
	"policydesk/web/portal"
)

// The compute platform (package compute) runs on the workflow's service,
// which wireDesk (desk.go) creates. Hooks run in the order their files'
// init functions ran — this file sorts before desk.go — so wireCompute
// defers itself until the workflow is wired:
//
//   - wireDesk sets deskForCompute right after creating its service, and
//   - runs the functions in afterDesk at its end.
//
// Both are per run of serve: wireCompute starts afterDesk afresh, and a
// closer clears both at shutdown, so a later run (the tests serve many
// times in one process) never sees the last run's service.
var (
	deskForCompute *desk.Service
	afterDesk      []func(ctx context.Context, w *serveWiring) error
)

// closeEvery is how often the scheduler closes expired vouchers.
const closeEvery = time.Minute

func init() {
	serveHooks = append(serveHooks, wireCompute)
}

// wireCompute wires the platform now if the workflow is already wired,
// and otherwise once wireDesk has run.
func wireCompute(ctx context.Context, w *serveWiring) error {
	w.Closers = append(w.Closers, func() error { deskForCompute, afterDesk = nil, nil; return nil })
	if deskForCompute != nil {
		afterDesk = nil
		return startCompute(ctx, w)
	}
	afterDesk = []func(context.Context, *serveWiring) error{startCompute}
	return nil
}

// startCompute registers the platform's API and starts its scheduler:
// CloseVouchers at start and every minute until shutdown.
func startCompute(ctx context.Context, w *serveWiring) error {
	if deskForCompute == nil {
		return errors.New("算力平台需要申报服务 compute: the workflow service is not wired (deskForCompute is nil)")
	}
	c, err := compute.New(deskForCompute, compute.Options{Logger: w.Logger})
	if err != nil {
		return err
	}
	computeapi.Register(w.Server, c)
	portal.RegisterCompute(w.Server, deskForCompute, c, portal.Options{})
	if w.Demo {
		// After the workflow's demo: the platform's data need its
		// enterprises, round and users.
		deskSeed := w.Deps.Seed
		w.Deps.Seed = func(ctx context.Context, db *store.DB) error {
			if deskSeed != nil {
				if err := deskSeed(ctx, db); err != nil {
					return err
				}
			}
			return seedComputeDemo(ctx, w, c)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runCloser(runCtx, w, c, closeEvery)
	}()
	w.Closers = append(w.Closers, func() error { cancel(); <-done; return nil })
	return nil
}

// runCloser closes expired vouchers now and then every period until ctx
// ends. A failed round is logged and tried again at the next tick.
func runCloser(ctx context.Context, w *serveWiring, c *compute.Service, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, released, err := c.CloseVouchers(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.Logger.Error("关闭到期券 closing expired vouchers", "err", err)
		case n > 0:
			w.Logger.Info("关闭到期券 closed expired vouchers", "closed", n, "released_yuan", money.Format(int64(released)))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// seedComputeDemo adds the platform's demo data (compute.SeedDemo) with
// the demo users as actors, as seedDemo (desk.go) does for the workflow's.
func seedComputeDemo(ctx context.Context, w *serveWiring, c *compute.Service) error {
	key, err := loadKey(os.Getenv, w.DataDir)
	if err != nil {
		return err
	}
	actors := desk.DemoActors{Reviewers: map[string]string{}}
	var fin, providers []string
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
		case auth.RoleProvider:
			providers = append(providers, u.Enterprise)
		}
	}
	if len(fin) < 2 {
		fin = append(fin, "demo-finance-checker") // as seedDemo: the second pair of eyes signs demo batches only
	}
	actors.Finance = [2]string{fin[0], fin[1]}
	t := time.Now()
	rep, err := c.SeedDemo(ctx, key, actors, providers, t)
	if err != nil {
		return fmt.Errorf("算力平台演示数据 compute demo data: %w", err)
	}
	w.Logger.Info("算力平台演示数据 compute demo data", "providers", rep.Providers, "listings", rep.Listings, "contracts", rep.Contracts,
		"claims", rep.Claims, "records", rep.Records, "redemptions", rep.Redemptions, "took", time.Since(t).String())
	return nil
}
