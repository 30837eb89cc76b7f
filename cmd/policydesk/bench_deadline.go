package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"policydesk/auth"
	"policydesk/desk"
	"policydesk/reliability"
	"policydesk/store"
)

func init() {
	register("bench deadline", "申报截止压测 the last hour of a round: enterprises, reviewers, all at once; then verify", runBenchDeadline)
}

type deadlineConfig struct {
	dsn         string
	enterprises int
	reviewers   int // per department
	duration    time.Duration
	think       time.Duration
	spread      float64
	returnPct   int
	target      time.Duration
	providers   int
	contracts   int // per provider
	settleRows  int
	cpuprofile  string
}

func runBenchDeadline(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("bench deadline", flag.ContinueOnError)
	var c deadlineConfig
	fs.StringVar(&c.dsn, "db", "", "数据库 database DSN, an empty database (default: a fresh SQLite file in a temporary directory, removed afterwards)")
	fs.IntVar(&c.enterprises, "enterprises", 2000, "企业数 enterprises, each applying for two items")
	fs.IntVar(&c.reviewers, "reviewers", 2, "每个部门的审核人数 reviewers per department")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "压测时长 how long the load runs")
	fs.DurationVar(&c.think, "think", time.Second, "企业每步之间的平均间隔 mean pause between an enterprise's steps (0: none)")
	fs.Float64Var(&c.spread, "spread", 0.6, "企业到达分布在压测时长的前多少比例 enterprises arrive uniformly over this share of the duration (0: all at once)")
	fs.IntVar(&c.returnPct, "return", 10, "退回补正比例 % of applications reviewers return")
	fs.DurationVar(&c.target, "target", 300*time.Millisecond, "提交 p99 目标 the p99 target for submissions")
	fs.IntVar(&c.providers, "providers", 4, "算力服务商数 compute providers uploading metering exports (0: none)")
	fs.IntVar(&c.contracts, "contracts", 25, "每个服务商的客户合同数 customer contracts per provider")
	fs.IntVar(&c.settleRows, "settle-rows", 200, "每个结算文件的行数 rows per metering export")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "CPU 剖析文件 write a CPU profile of the load (server and load generator) to this file")
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	if c.enterprises < 1 || c.reviewers < 1 || c.duration <= 0 || c.spread < 0 || c.spread > 1 {
		fmt.Fprintln(io.err, "bench deadline: --enterprises, --reviewers ≥ 1; --duration > 0; --spread 0–1")
		return 2
	}
	if c.dsn == "" {
		dir, err := os.MkdirTemp("", "policydesk-deadline-")
		if err != nil {
			fmt.Fprintf(io.err, "bench deadline: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		c.dsn = "sqlite://" + filepath.ToSlash(filepath.Join(dir, "bench.db"))
	}
	ok, err := benchDeadline(ctx, c, io.out)
	if err != nil {
		fmt.Fprintf(io.err, "bench deadline: 失败 failed: %v\n", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

// benchDeadline runs the server in-process on a loopback port and drives
// it over HTTP as the last hour of a round: every enterprise signs in,
// creates two applications, uploads, signs and submits (with an
// idempotency key) and looks at the status; reviewers work their queues,
// accepting (then proposing: the ledger reserves the award) or returning.
// It reports throughput, p50/p99 per operation, failed answers by code,
// peak memory, and verifies the ledger, the audit chain and that every
// acknowledged submission is stored exactly once. ok is false when a
// check failed, an answer was neither a success nor an intended refusal,
// the submissions' p99 missed the target, or a request was left waiting
// for half the run, and at least 30 s (the server stalled).
func benchDeadline(ctx context.Context, c deadlineConfig, out io.Writer) (ok bool, err error) {
	db, err := store.Open(ctx, c.dsn)
	if err != nil {
		return false, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return false, err
	}
	var existing int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM auth_users`).Scan(&existing); err != nil {
		return false, err
	}
	if existing > 0 {
		return false, errors.New("the database is not empty: bench deadline creates its own users and enterprises")
	}
	env, err := reliability.NewEnv(ctx, db, reliability.EnvOptions{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		return false, err
	}
	defer env.Close()
	if _, err := env.Desk.FundPools(ctx, desk.Actor{ID: "bench", Role: desk.RoleAdmin}); err != nil {
		return false, err
	}

	// Users. Their passwords are hashed with auth.TestParams: at ~85 ms per
	// argon2id hash, 2,000 sign-ins would be the bench.
	const password = "bench-password-2024"
	t0 := time.Now()
	if _, err := reliability.AddUser(ctx, env.Auth, auth.User{Login: "admin", Name: "管理员", Role: auth.RoleAdmin}, password); err != nil {
		return false, err
	}
	var reviewers []reliability.Reviewer
	for _, d := range reliability.Departments {
		for i := range c.reviewers {
			login := fmt.Sprintf("rev-%s-%d", d, i)
			if _, err := reliability.AddUser(ctx, env.Auth, auth.User{Login: login, Name: login, Role: auth.RoleReviewer, Department: d}, password); err != nil {
				return false, err
			}
			reviewers = append(reviewers, reliability.Reviewer{Login: login, Department: d})
		}
	}
	ents := make([]reliability.Enterprise, c.enterprises)
	for i := range ents {
		ents[i] = reliability.Enterprise{Login: fmt.Sprintf("ent%05d", i), USCC: reliability.EnterpriseCode(i)}
		if _, err := reliability.AddUser(ctx, env.Auth, auth.User{Login: ents[i].Login, Name: ents[i].Login, Role: auth.RoleEnterprise, Enterprise: ents[i].USCC}, password); err != nil {
			return false, err
		}
	}

	var providers []reliability.Provider
	for i := range c.providers {
		p := reliability.Provider{Login: fmt.Sprintf("prov%02d", i), USCC: reliability.ProviderCode(i)}
		if _, err := reliability.AddUser(ctx, env.Auth, auth.User{Login: p.Login, Name: p.Login, Role: auth.RoleProvider, Enterprise: p.USCC}, password); err != nil {
			return false, err
		}
		providers = append(providers, p)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false, err
	}
	sctx, stopServer := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- env.Server.Run(sctx, ln, nil) }()
	defer func() {
		stopServer()
		if e := <-served; e != nil && err == nil {
			err = e
		}
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 1024, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	w := &reliability.Workload{Base: "http://" + ln.Addr().String(), Password: password, Enterprises: ents, Reviewers: reviewers, Providers: providers, SettleRows: c.settleRows,
		Think: c.think, ReturnPct: c.returnPct, Timeout: 2 * time.Minute, Transport: tr,
		Stats: reliability.NewStats(), Acks: reliability.NewAcks()}
	if err := w.Prepare(ctx, "admin", 32); err != nil {
		return false, fmt.Errorf("prepare: %w", err)
	}
	if err := w.SetupProviders(ctx, "admin", ents, c.contracts); err != nil {
		return false, fmt.Errorf("providers: %w", err)
	}
	fmt.Fprintf(out, "压测 bench deadline: %s, %d enterprises × %d items, %d reviewers, %d providers × %d contracts uploading %d-row metering exports, %s, think %s, arrivals over %.0f%% of it (setup %s)\n",
		db.Dialect(), c.enterprises, len(reliability.DefaultItems), len(reviewers), c.providers, c.contracts, c.settleRows, c.duration, c.think, c.spread*100, time.Since(t0).Round(time.Millisecond))

	var peak peakHeap
	stopWatch := peak.watch()
	if c.cpuprofile != "" {
		pf, err := os.Create(c.cpuprofile)
		if err != nil {
			return false, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return false, err
		}
		defer pprof.StopCPUProfile() // on an early return; a second stop is a no-op
	}
	load, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	var entWG sync.WaitGroup
	for _, e := range ents {
		wg.Add(1)
		entWG.Add(1)
		at := time.Duration(rand.Float64() * c.spread * float64(c.duration))
		go func() {
			defer wg.Done()
			defer entWG.Done()
			select {
			case <-load.Done():
				return
			case <-time.After(at):
			}
			w.RunEnterprise(load, e)
		}()
	}
	byDept := map[string][]reliability.Reviewer{}
	for _, r := range reviewers {
		byDept[r.Department] = append(byDept[r.Department], r)
	}
	for _, p := range w.Providers {
		wg.Add(1)
		go func() { defer wg.Done(); w.RunProvider(load, p) }()
	}
	revCtx, stopReviewers := context.WithCancel(load)
	for _, rs := range byDept {
		for i, r := range rs {
			wg.Add(1)
			go func() { defer wg.Done(); w.RunReviewer(revCtx, r, i, len(rs)) }()
		}
	}
	// Reviewers go on until the time is up or, once every enterprise is
	// done, until the queues are empty.
	go func() {
		entWG.Wait()
		for revCtx.Err() == nil {
			var n int
			db.QueryRow(ctx, `SELECT COUNT(*) FROM desk_applications WHERE state IN ('submitted', 'accepted')`).Scan(&n)
			if n == 0 {
				stopReviewers()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	if c.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	stopReviewers()
	stopWatch()

	total := w.Stats.Total()
	fmt.Fprintf(out, "\n用时 elapsed %s: %d requests, %.0f requests/s\n", elapsed.Round(time.Millisecond), total, float64(total)/elapsed.Seconds())
	fmt.Fprintf(out, "%-8s %8s %8s %10s %10s %10s\n", "op", "n", "/s", "p50", "p99", "max")
	var submitP99 time.Duration
	for _, s := range w.Stats.Summary() {
		fmt.Fprintf(out, "%-8s %8d %8.1f %10s %10s %10s\n", s.Op, s.N, float64(s.N)/elapsed.Seconds(), ms(s.P50), ms(s.P99), ms(s.Max))
		if s.Op == reliability.OpSubmit {
			submitP99 = s.P99
		}
	}
	codes, unexpected := w.Stats.Codes()
	keys := make([]string, 0, len(codes))
	failed := 0
	for k, n := range codes {
		keys = append(keys, k)
		failed += n
	}
	slices.Sort(keys)
	fmt.Fprintf(out, "\n未成功的应答 answers that were not a success: %d, of which not an intended refusal (%v): %d (requests cut off by the end of the run are not counted)\n", failed, reliability.Intended, unexpected)
	for _, k := range keys {
		fmt.Fprintf(out, "  %-40s %d\n", k, codes[k])
	}
	cut, oldest := w.Stats.CutOff()
	if cut > 0 {
		fmt.Fprintf(out, "截止时仍在处理 still in flight when the run ended: %d requests, the oldest waiting %s\n", cut, oldest.Round(time.Millisecond))
	}
	var states []string
	rows, err := db.Query(ctx, `SELECT state, COUNT(*) FROM desk_applications GROUP BY state ORDER BY state`)
	if err == nil {
		for rows.Next() {
			var s string
			var n int
			rows.Scan(&s, &n)
			states = append(states, fmt.Sprintf("%s %d", s, n))
		}
		rows.Close()
	}
	fmt.Fprintf(out, "申请状态 applications by state: %v\n", states)
	fmt.Fprintf(out, "内存峰值 peak memory: RSS %d MiB (the process: server and load generator), Go heap in use %d MiB; %d goroutines at the end\n",
		maxRSS()>>20, peak.inuse>>20, runtime.NumGoroutine())

	t1 := time.Now()
	rep, err := reliability.Check(ctx, db, w.Acks.List())
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "\n校验 checks (%s):\n", time.Since(t1).Round(time.Millisecond))
	rep.Ledger.Write(out)
	rep.Audit.Write(out)
	if len(rep.Problems) == 0 {
		imports, rows := 0, 0
		for _, a := range w.Acks.List() {
			if a.Op == reliability.OpSettle {
				imports++
				rows += a.Imported
			}
		}
		fmt.Fprintf(out, "恰好一次 exactly once: %d acknowledged requests durable; %d acknowledged submissions, each stored exactly once; %d metering imports, %d settlement rows, each stored with its import\n", rep.Acks, rep.Submissions, imports, rows)
	} else {
		fmt.Fprintf(out, "恰好一次校验失败 exactly-once check FAILED: %d problem(s)\n", len(rep.Problems))
		for _, p := range rep.Problems[:min(len(rep.Problems), 20)] {
			fmt.Fprintf(out, "  %s\n", p)
		}
	}
	verdict := "达标 met"
	if submitP99 >= c.target {
		verdict = "未达标 NOT met"
	}
	fmt.Fprintf(out, "提交 p99 submissions: %s, target %s: %s\n", ms(submitP99), ms(c.target), verdict)
	return rep.OK() && unexpected == 0 && submitP99 < c.target && oldest < max(c.duration/2, 30*time.Second), nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
