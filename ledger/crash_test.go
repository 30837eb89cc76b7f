package ledger

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"policydesk/store"
	"policydesk/store/storetest"
)

// Environment of the crash helper process.
const (
	envCrashHelper = "POLICYDESK_CRASH_HELPER"
	envCrashDSN    = "POLICYDESK_CRASH_DSN"
	envCrashRound  = "POLICYDESK_CRASH_ROUND"
)

// crashGrant is the grant the helper makes under id; the parent rebuilds
// it from the id alone to replay it.
func crashGrant(id string) Grant {
	h := fnv.New64a()
	h.Write([]byte(id))
	n := h.Sum64()
	e := fmt.Sprintf("E%02d", n%8)
	return Grant{ID: id, Enterprise: e, Item: "compute_voucher", Year: 2025, Pool: "crash", Amount: 1 + int64(n%5000),
		Caps: []Cap{{Key: ItemCapKey(e, "compute_voucher", 2025), Limit: 1 << 40}}}
}

// payAmount is what the helper pays on grant id: part of it, so that the
// remainder is released by the same post.
func payAmount(id string) int64 { return crashGrant(id).Amount/2 + 1 }

// TestCrashHelper is the helper process: it reserves and pays in a loop
// from 8 goroutines and prints each acknowledged operation, until killed.
func TestCrashHelper(t *testing.T) {
	if os.Getenv(envCrashHelper) == "" {
		t.Skip("helper process for TestCrash")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv(envCrashDSN))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	l, err := New(ctx, db, Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	round := os.Getenv(envCrashRound)
	var mu sync.Mutex
	ack := func(kind, id string) {
		mu.Lock()
		defer mu.Unlock()
		// Unbuffered: once written, the parent may count on it.
		fmt.Fprintf(os.Stdout, "%s %s\n", kind, id)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-w%d-%d", round, w, i)
				if _, err := l.Reserve(ctx, crashGrant(id)); err != nil {
					fmt.Println("error", err)
					os.Exit(3)
				}
				ack("reserved", id)
				if i%3 == 0 {
					if err := l.Pay(ctx, id, payAmount(id)); err != nil {
						fmt.Println("error", err)
						os.Exit(3)
					}
					ack("paid", id)
				}
			}
		}()
	}
	wg.Wait()
}

// TestCrash kills the helper with SIGKILL at random moments, 30 times, and
// after each kill checks that the ledger verifies, that every operation
// acknowledged before the kill is there, and that replaying them changes
// nothing (none is applied twice).
func TestCrash(t *testing.T) {
	if os.Getenv(envCrashHelper) != "" {
		t.Skip("in the helper")
	}
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		setup, err := New(ctx, db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := setup.FundPool(ctx, "crash", 2025, 1<<50, "crash-fund"); err != nil {
			t.Fatal(err)
		}
		setup.Close()
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		acked := 0
		for round := range rounds {
			reserved, paid := crashRound(t, dsn, round, time.Duration(rng.IntN(200))*time.Millisecond)
			acked += len(reserved) + len(paid)
			checkAfterCrash(t, db, reserved, paid)
		}
		t.Logf("%d rounds, %d acknowledged operations checked and replayed", rounds, acked)
	})
}

// crashRound runs the helper for about d, kills it and returns the ids it
// acknowledged.
func crashRound(t *testing.T, dsn string, round int, d time.Duration) (reserved, paid []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashHelper+"=1", envCrashDSN+"="+dsn, fmt.Sprintf("%s=%d", envCrashRound, round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string)
	first := make(chan struct{})
	go func() {
		var r, p []string
		var failed string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if len(r) == 0 && failed == "" {
				close(first)
			}
			kind, id, _ := strings.Cut(sc.Text(), " ")
			switch kind {
			case "reserved":
				r = append(r, id)
			case "paid":
				p = append(p, id)
			case "error":
				failed = sc.Text()
			}
		}
		if len(r) == 0 && failed == "" {
			close(first)
		}
		if failed != "" {
			r = append(r, "!"+failed)
		}
		lines <- append(r, append([]string{"--"}, p...)...)
	}()
	// Wait until the helper has acknowledged something, then a random time.
	select {
	case <-first:
	case <-time.After(30 * time.Second):
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	all := <-lines
	for i, s := range all {
		if s == "--" {
			reserved, paid = all[:i], all[i+1:]
			break
		}
		if strings.HasPrefix(s, "!") {
			t.Fatalf("round %d: the helper failed: %s", round, s[1:])
		}
	}
	return reserved, paid
}

// checkAfterCrash verifies the ledger and replays what was acknowledged.
func checkAfterCrash(t *testing.T, db *store.DB, reserved, paid []string) {
	t.Helper()
	ctx := context.Background()
	// A batch the helper had sent COMMIT for may still be committing in
	// the PostgreSQL server when the kill returns (it was never
	// acknowledged, so it may land or not). Taking the ledger's lock waits
	// for that transaction to end either way.
	if err := db.Tx(ctx, func(tx *store.Tx) error {
		var v, s int64
		q := `SELECT version, last_seq FROM ledger_meta WHERE id = 1`
		if tx.Dialect() == store.Postgres {
			q += ` FOR UPDATE`
		}
		return tx.QueryRow(ctx, q).Scan(&v, &s)
	}); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, db)
	l, err := New(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pool := PoolKey("crash", 2025)
	before, err := l.Balances(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	transfers := countRows(t, db, "ledger_transfers")
	for _, id := range reserved {
		g := crashGrant(id)
		ts, err := l.LookupTransfers(ctx, GrantTransferID(id))
		if err != nil || len(ts) != 1 || ts[0].Amount != g.Amount {
			t.Fatalf("acknowledged reservation %s is missing after the kill: %v %v", id, ts, err)
		}
		r, err := l.Reserve(ctx, g)
		if err != nil || !r.Replayed {
			t.Fatalf("replaying reservation %s: %+v %v; want the first result", id, r, err)
		}
	}
	for _, id := range paid {
		if err := l.Pay(ctx, id, payAmount(id)); err != nil {
			t.Fatalf("replaying payment %s: %v", id, err)
		}
	}
	after, err := l.Balances(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if after[0] != before[0] || countRows(t, db, "ledger_transfers") != transfers {
		t.Fatalf("replaying acknowledged operations changed the ledger: pool %+v → %+v", before[0], after[0])
	}
}
