package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"policydesk/ledger"
	"policydesk/store"
)

func init() {
	register("migrate", "升级数据库结构 apply database migrations", runMigrate)
	register("ledger verify", "校验账本不变量 verify the ledger's invariants", runLedgerVerify)
	register("bench ledger", "账本压测 benchmark ledger reservations", runBenchLedger)
}

// dbFlags adds --db and --data-dir to fs and returns a function giving the
// DSN after parsing: --db, else POLICYDESK_DB, else a SQLite file in the
// data directory (--data-dir, else POLICYDESK_DATA, else ./data).
func dbFlags(fs *flag.FlagSet, io stdio) func() string {
	db := fs.String("db", "", "数据库 database DSN: sqlite:///path/file.db or postgres://… (default $POLICYDESK_DB, else a SQLite file in the data directory)")
	dir := fs.String("data-dir", "", "数据目录 data directory (default $POLICYDESK_DATA, else ./data)")
	return func() string {
		d := *dir
		if d == "" {
			d = io.getenv("POLICYDESK_DATA")
		}
		if d == "" {
			d = "data"
		}
		return store.ChooseDSN(*db, io.getenv("POLICYDESK_DB"), d)
	}
}

// parseFlags parses args; it returns the exit code to use and false when
// the command should stop (help asked: 0; bad usage: 2).
func parseFlags(fs *flag.FlagSet, args []string, io stdio) (int, bool) {
	fs.SetOutput(io.err)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "%s: 多余的参数 unexpected arguments: %v\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}

func runMigrate(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dsn := dbFlags(fs, io)
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	db, err := store.Open(ctx, dsn())
	if err != nil {
		fmt.Fprintf(io.err, "migrate: 无法打开数据库 cannot open the database: %v\n", err)
		return 1
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintf(io.out, "已应用 applied %04d_%s\n", m.Version, m.Name)
	}
	if err != nil {
		fmt.Fprintf(io.err, "migrate: 升级失败 failed: %v\n", err)
		return 1
	}
	vs, err := db.AppliedMigrations(ctx)
	if err != nil {
		fmt.Fprintf(io.err, "migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(io.out, "数据库已是最新 database up to date (%s, %d migrations)\n", db.Dialect(), len(vs))
	return 0
}

func runLedgerVerify(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("ledger verify", flag.ContinueOnError)
	dsn := dbFlags(fs, io)
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	db, err := store.Open(ctx, dsn())
	if err != nil {
		fmt.Fprintf(io.err, "ledger verify: 无法打开数据库 cannot open the database: %v\n", err)
		return 1
	}
	defer db.Close()
	start := time.Now()
	r, err := ledger.Verify(ctx, db)
	if err != nil {
		fmt.Fprintf(io.err, "ledger verify: 无法读取账本 cannot read the ledger (run policydesk migrate?): %v\n", err)
		return 1
	}
	r.Write(io.out)
	fmt.Fprintf(io.out, "用时 took %s\n", time.Since(start).Round(time.Millisecond))
	if !r.OK() {
		return 1
	}
	return 0
}

// benchConfig is bench ledger's flags.
type benchConfig struct {
	dsn         string
	clients     int
	transfers   int
	enterprises int
	caps        int
	maxBatch    int
	linger      time.Duration
	verify      bool
	cpuprofile  string
}

func runBenchLedger(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("bench ledger", flag.ContinueOnError)
	var c benchConfig
	fs.StringVar(&c.dsn, "db", "", "数据库 database DSN (default: a fresh SQLite file in a temporary directory, removed afterwards)")
	fs.IntVar(&c.clients, "clients", 64, "并发客户端 concurrent clients")
	fs.IntVar(&c.transfers, "transfers", 100_000, "预留笔数 reservations to make")
	fs.IntVar(&c.enterprises, "enterprises", 10_000, "企业数 enterprises (each with its own caps)")
	fs.IntVar(&c.caps, "caps", 1, "每笔预留的限额数 caps per reservation (0–3: item/year, project, enterprise)")
	fs.IntVar(&c.maxBatch, "batch", 0, "每个事务最多转账数 max transfers per database transaction (0: ledger default)")
	fs.DurationVar(&c.linger, "linger", 0, "批次等待 how long a batch waits for more requests")
	fs.BoolVar(&c.verify, "verify", true, "结束后校验 verify the whole ledger at the end")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "CPU 剖析文件 write a CPU profile of the timed part to this file")
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	if c.clients < 1 || c.transfers < 1 || c.enterprises < 1 || c.caps < 0 || c.caps > 3 {
		fmt.Fprintln(io.err, "bench ledger: --clients, --transfers, --enterprises ≥ 1; --caps 0–3")
		return 2
	}
	if c.dsn == "" {
		dir, err := os.MkdirTemp("", "policydesk-bench-")
		if err != nil {
			fmt.Fprintf(io.err, "bench ledger: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		c.dsn = "sqlite://" + filepath.ToSlash(filepath.Join(dir, "bench.db"))
	}
	if err := benchLedger(ctx, c, io.out); err != nil {
		fmt.Fprintf(io.err, "bench ledger: 失败 failed: %v\n", err)
		return 1
	}
	return 0
}

// benchLedger reserves c.transfers grants from one hot pool for many
// enterprises, each with its own caps, through Ledger.Reserve — the call
// the workflow makes — and reports throughput, latency and the invariants.
func benchLedger(ctx context.Context, c benchConfig, out io.Writer) error {
	db, err := store.Open(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	l, err := ledger.New(ctx, db, ledger.Options{MaxBatch: c.maxBatch, Linger: c.linger})
	if err != nil {
		return err
	}
	defer l.Close()

	// A run id keeps runs on the same database apart.
	run := fmt.Sprintf("bench%d", time.Now().UnixNano())
	const year, maxAmount = 2025, 100_000
	pool := run
	if err := l.FundPool(ctx, pool, year, int64(c.transfers)*maxAmount, run); err != nil {
		return fmt.Errorf("fund pool: %w", err)
	}
	fmt.Fprintf(out, "压测 bench: %s, %d clients, %d reservations, %d enterprises, %d cap(s) each\n",
		db.Dialect(), c.clients, c.transfers, c.enterprises, c.caps)

	var next atomic.Int64
	var reserved atomic.Int64
	lat := make([][]time.Duration, c.clients)
	errs := make(chan error, c.clients)
	if c.cpuprofile != "" {
		pf, err := os.Create(c.cpuprofile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile() // on an early return; a second stop is a no-op
	}
	before := l.Stats()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				i := int(next.Add(1)) - 1
				if i >= c.transfers {
					return
				}
				e := fmt.Sprintf("%sE%06d", run, rng.IntN(c.enterprises))
				g := ledger.Grant{ID: fmt.Sprintf("%s-%d", run, i), Enterprise: e, Item: "compute_voucher", Year: year,
					Project: "p1", Pool: pool, Amount: 1 + rng.Int64N(maxAmount)}
				caps := []ledger.Cap{
					{Key: ledger.ItemCapKey(e, "compute_voucher", year), Limit: int64(c.transfers) * maxAmount},
					{Key: ledger.ProjectCapKey(e, "p1"), Limit: int64(c.transfers) * maxAmount},
					{Key: ledger.EnterpriseCapKey(e), Limit: int64(c.transfers) * maxAmount},
				}
				g.Caps = caps[:c.caps]
				t0 := time.Now()
				if _, err := l.Reserve(ctx, g); err != nil {
					errs <- fmt.Errorf("reserve %s: %w", g.ID, err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
				reserved.Add(g.Amount)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if c.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	after := l.Stats()
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	batches := after.Batches - before.Batches
	written := after.Transfers - before.Transfers
	fmt.Fprintf(out, "吞吐 throughput: %.0f reservations/s (%.0f transfers/s) in %s\n",
		float64(len(all))/elapsed.Seconds(), float64(written)/elapsed.Seconds(), elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "延迟 latency: p50 %s, p99 %s, max %s\n",
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), all[len(all)-1].Round(time.Microsecond))
	fmt.Fprintf(out, "批次 batches: %d, %.1f transfers per transaction\n", batches, float64(written)/float64(max(batches, 1)))

	bs, err := l.Balances(ctx, ledger.PoolKey(pool, year))
	if err != nil {
		return err
	}
	if bs[0].DebitsPending != reserved.Load() {
		return fmt.Errorf("pool reserved %d, but the successful reservations sum to %d", bs[0].DebitsPending, reserved.Load())
	}
	fmt.Fprintf(out, "资金池 pool: reserved %d fen = sum of the %d acknowledged reservations\n", reserved.Load(), len(all))
	if !c.verify {
		return nil
	}
	vstart := time.Now()
	r, err := ledger.Verify(ctx, db)
	if err != nil {
		return err
	}
	r.Write(out)
	fmt.Fprintf(out, "校验用时 verify took %s\n", time.Since(vstart).Round(time.Millisecond))
	if !r.OK() {
		return errors.New("the ledger's invariants do not hold")
	}
	return nil
}
