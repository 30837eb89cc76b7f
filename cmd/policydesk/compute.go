package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"policydesk/compute"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/uscc"
)

func init() {
	register("gen settlements", "生成算力计量结算样本 generate a metering CSV/JSONL of N settlement records", runGenSettlements)
	register("bench settlements", "结算导入压测 benchmark importing a generated metering CSV", runBenchSettlements)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, strings.Split(v, ",")...); return nil }

func runGenSettlements(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("gen settlements", io)
	var contracts multi
	fs.Var(&contracts, "contract", "合同编号或ID contract id or number (repeatable; rows name them in turn)")
	from := fs.String("from", "2025-01-01", "合同服务期开始 first day of the contract period")
	to := fs.String("to", "2025-06-30", "合同服务期结束 last day of the contract period")
	seed := fs.Uint64("seed", 29, "随机种子 seed (the same seed gives the same file)")
	bad := fs.Int("bad", 0, "错误行数 bad rows to include (negative amount, unknown contract, outside period, malformed…)")
	dups := fs.Int("dups", 0, "重复发票行数 rows repeating an earlier invoice number")
	foreign := fs.String("foreign", "", "另一服务商的合同 another provider's contract, for 'not your contract' rows")
	format := fs.String("format", "csv", "csv or jsonl")
	gbk := fs.Bool("gbk", false, "GBK 编码、中文表头 encode in GBK with a Chinese header (CSV)")
	maxAmount := fs.String("max-amount", "1000.00", "单行最高金额(元) the largest amount of a row, in yuan")
	prefix := fs.String("prefix", "", "发票号前缀 invoice number prefix (default from the seed)")
	outPath := fs.String("out", "-", "输出文件 output file, - for stdout")
	if err := parseArgs(fs, args); err != nil {
		return 2
	}
	n, err := strconv.Atoi(fs.Arg(0))
	maxFen, merr := money.Parse(*maxAmount)
	if err != nil || n <= 0 || len(contracts) == 0 || merr != nil || fs.NArg() != 1 {
		fmt.Fprintln(io.err, "用法 usage: policydesk gen settlements N --contract ID [--contract ID2] [--from D --to D] [--seed S] [--bad K] [--dups K] [--foreign ID] [--format csv|jsonl] [--gbk] [--out FILE]")
		return 2
	}
	out := io.out
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			fmt.Fprintln(io.err, err)
			return 1
		}
		defer f.Close()
		out = f
	}
	sum, err := compute.GenerateSettlements(out, compute.GenOptions{Rows: n, Contracts: contracts, From: *from, To: *to, Seed: *seed, Bad: *bad,
		Duplicates: *dups, Foreign: *foreign, Format: *format, GBK: *gbk, MaxAmount: money.Amount(maxFen), InvoicePrefix: *prefix})
	if err != nil {
		fmt.Fprintf(io.err, "gen settlements: %v\n", err)
		return 2
	}
	if *outPath != "-" {
		fmt.Fprintf(io.err, "已生成 wrote %d rows (%d good, %d bad, %d duplicate invoices), good amount %s yuan, to %s\n",
			sum.Rows, sum.Good, sum.Bad, sum.Duplicates, money.FormatGrouped(int64(sum.GoodAmount)), *outPath)
	}
	return 0
}

func runBenchSettlements(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("bench settlements", flag.ContinueOnError)
	dsn := fs.String("db", "", "数据库 database DSN (default: a fresh SQLite file in a temporary directory, removed afterwards)")
	rows := fs.Int("rows", 1_000_000, "行数 rows in the generated file")
	format := fs.String("format", "csv", "csv or jsonl")
	progress := fs.Bool("progress", false, "显示进度 show progress on stderr")
	cpuprofile := fs.String("cpuprofile", "", "CPU 剖析文件 write a CPU profile of the import to this file")
	if code, ok := parseFlags(fs, args, io); !ok {
		return code
	}
	if *rows < 1 {
		fmt.Fprintln(io.err, "bench settlements: --rows ≥ 1")
		return 2
	}
	dir, err := os.MkdirTemp("", "policydesk-bench-settlements-")
	if err != nil {
		fmt.Fprintf(io.err, "bench settlements: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *dsn == "" {
		*dsn = "sqlite://" + filepath.ToSlash(filepath.Join(dir, "bench.db"))
	}
	if err := benchSettlements(ctx, *dsn, dir, *rows, *format, *progress, *cpuprofile, io); err != nil {
		fmt.Fprintf(io.err, "bench settlements: 失败 failed: %v\n", err)
		return 1
	}
	return 0
}

// benchSettlements sets up a provider, an enterprise and a contract,
// generates the metering file, imports it through Service.ImportRecords —
// the call the API makes — and reports rows/s and peak memory.
func benchSettlements(ctx context.Context, dsn, dir string, rows int, format string, progress bool, cpuprofile string, io stdio) error {
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	led, err := ledger.New(ctx, db, ledger.Options{})
	if err != nil {
		return err
	}
	defer led.Close()
	bundle, err := loadBundle("")
	if err != nil {
		return err
	}
	d, err := desk.New(db, led, bundle, desk.Options{Key: make([]byte, 16)})
	if err != nil {
		return err
	}
	svc, err := compute.New(d, compute.Options{MaxImportRows: max(rows, 5_000_000)})
	if err != nil {
		return err
	}
	// A run id keeps runs on the same database apart.
	run := time.Now().UnixNano()
	prov := uscc.Complete(fmt.Sprintf("91110302PB%07d", run%10_000_000))
	ent := uscc.Complete(fmt.Sprintf("91110302EB%07d", run%10_000_000))
	admin := desk.Actor{ID: "bench-admin", Role: desk.RoleAdmin}
	pa := desk.Actor{ID: "bench-provider", Role: desk.RoleProvider, Enterprise: prov}
	ea := desk.Actor{ID: "bench-enterprise", Role: desk.RoleEnterprise, Enterprise: ent}
	p, err := svc.RegisterProvider(ctx, pa, compute.ProviderInput{USCC: prov, Name: "压测算力服务商", Kinds: []string{compute.KindCompute}})
	if err != nil {
		return err
	}
	if _, err := svc.ApproveProvider(ctx, admin, p.ID, "bench"); err != nil {
		return err
	}
	today := policy.DateOf(time.Now().In(time.FixedZone("CST", 8*3600)))
	from, to := today-300, today-1
	c, err := svc.CreateContract(ctx, ea, compute.ContractInput{Provider: p.ID, Kind: compute.KindCompute, Number: fmt.Sprintf("BENCH-%d", run),
		Amount: money.Amount(int64(rows) * 1000_00), Starts: from.String(), Ends: to.String(), SignedOn: from.String()})
	if err != nil {
		return err
	}

	path := filepath.Join(dir, "metering."+format)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	t0 := time.Now()
	gen, err := compute.GenerateSettlements(f, compute.GenOptions{Rows: rows, Contracts: []string{c.ID}, From: from.String(), To: to.String(),
		Seed: uint64(run), Format: format, MaxAmount: 1000_00, InvoicePrefix: fmt.Sprintf("B%07d", run%10_000_000)})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	st, _ := os.Stat(path)
	fmt.Fprintf(io.out, "生成 generated %d rows (%.1f MB) in %s\n", gen.Rows, float64(st.Size())/(1<<20), time.Since(t0).Round(time.Millisecond))

	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	runtime.GC()
	var peak peakHeap
	stop := peak.watch()
	opt := compute.ImportOptions{Filename: filepath.Base(path)}
	if progress {
		opt.Progress = func(p compute.Progress) { fmt.Fprintf(io.err, "\r%s %d/%d   ", p.Phase, p.Done, p.Total) }
	}
	if cpuprofile != "" {
		pf, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
	}
	t1 := time.Now()
	res, err := svc.ImportRecords(ctx, pa, in, opt)
	took := time.Since(t1)
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	stop()
	if progress {
		fmt.Fprintln(io.err)
	}
	if err != nil {
		return err
	}
	if !res.Committed || res.Imported != gen.Good || res.Amount != gen.GoodAmount {
		return fmt.Errorf("imported %d rows (%s yuan), want %d (%s yuan)", res.Imported, money.Format(int64(res.Amount)), gen.Good, money.Format(int64(gen.GoodAmount)))
	}
	var stored int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM compute_settlements WHERE import_id = ?`, res.ID).Scan(&stored); err != nil {
		return err
	}
	if stored != gen.Good {
		return fmt.Errorf("%d rows stored, want %d", stored, gen.Good)
	}
	fmt.Fprintf(io.out, "导入 import (%s, %s): %d rows parsed, validated, deduplicated and stored in %s: %.0f rows/s\n",
		db.Dialect(), format, res.Imported, took.Round(time.Millisecond), float64(res.Imported)/took.Seconds())
	fmt.Fprintf(io.out, "内存 memory: peak heap in use %.0f MB, heap from the OS %.0f MB; peak RSS of the process %.0f MB\n",
		float64(peak.inuse)/(1<<20), float64(peak.sys)/(1<<20), float64(maxRSS())/(1<<20))
	// The same file again replays the first import.
	if _, err := in.Seek(0, 0); err != nil {
		return err
	}
	t2 := time.Now()
	again, err := svc.ImportRecords(ctx, pa, in, compute.ImportOptions{Filename: filepath.Base(path)})
	if err != nil {
		return err
	}
	if !again.Replayed {
		return errors.New("re-importing the same file was not a replay")
	}
	fmt.Fprintf(io.out, "重复导入 re-import of the same file: replayed in %s, nothing stored\n", time.Since(t2).Round(time.Millisecond))
	return nil
}

// peakHeap samples the Go heap while an import runs.
type peakHeap struct {
	mu          sync.Mutex
	inuse, sys  uint64
	stop, doneC chan struct{}
}

func (p *peakHeap) watch() func() {
	p.stop, p.doneC = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.doneC)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			p.mu.Lock()
			p.inuse, p.sys = max(p.inuse, m.HeapInuse), max(p.sys, m.HeapSys)
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(p.stop); <-p.doneC }
}
