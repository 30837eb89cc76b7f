package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"policydesk/store"
	"policydesk/store/storetest"
)

// EnvFull forces the full-size concurrency test (64 × 10,000) even under
// -race, -short or on PostgreSQL.
const EnvFull = "POLICYDESK_LEDGER_FULL"

// perClient is how many reservations each of 64 goroutines makes: 10,000
// on SQLite without -race and -short; fewer where that would take minutes
// (the race detector, PostgreSQL in the default run), unless EnvFull is set.
func perClient(t *testing.T, dialect string) int {
	switch {
	case os.Getenv(EnvFull) != "":
		return 10_000
	case raceEnabled || testing.Short():
		return 300
	case dialect == store.Postgres:
		return 1_000
	}
	return 10_000
}

// raceSpec is a contest: enterprises share caps; half have tight item caps,
// half loose ones; the pool is smaller than what the loose half asks, so
// both pools and caps run out while clients race.
type raceSpec struct {
	clients, perClient, enterprises int
	maxAmount                       int64
	pool                            int64
	tight, loose                    int64 // item cap limits
}

func newRaceSpec(clients, per int) raceSpec {
	const enterprises, maxAmount = 16, 1000
	demand := int64(clients*per) * (maxAmount + 1) / 2 // expected total asked
	perEnterprise := demand / enterprises
	return raceSpec{
		clients: clients, perClient: per, enterprises: enterprises, maxAmount: maxAmount,
		pool:  demand * 15 / 100,
		tight: perEnterprise * 5 / 100,
		loose: perEnterprise * 4,
	}
}

func (s raceSpec) caps(e int) []Cap {
	item := s.loose
	if e%2 == 0 {
		item = s.tight
	}
	ent := fmt.Sprintf("E%02d", e)
	return []Cap{
		{Key: ItemCapKey(ent, "compute_voucher", 2025), Limit: item},
		{Key: EnterpriseCapKey(ent), Limit: item * 3 / 2},
	}
}

// outcome is what the clients saw.
type outcome struct {
	mu        sync.Mutex
	ok        map[string]int64   // account key → sum of acknowledged reservations
	refusedAt map[string][]int64 // account key named by a refusal → amounts refused
	granted   int
}

// race runs the contest through each ledger (several = several instances
// on one database) and checks that the pool and every cap hold exactly the
// acknowledged reservations, that no refusal was spurious, and Verify.
func race(t *testing.T, db *store.DB, ls []*Ledger, s raceSpec, prefix string) {
	ctx := context.Background()
	if err := ls[0].FundPool(ctx, "hot", 2025, s.pool, prefix+"fund"); err != nil {
		t.Fatal(err)
	}
	out := &outcome{ok: map[string]int64{}, refusedAt: map[string][]int64{}}
	pool := PoolKey("hot", 2025)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range s.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ls[c%len(ls)]
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			ok := map[string]int64{}
			refused := map[string][]int64{}
			n := 0
			for i := range s.perClient {
				e := rng.IntN(s.enterprises)
				g := Grant{ID: fmt.Sprintf("%sc%d-%d", prefix, c, i), Enterprise: fmt.Sprintf("E%02d", e), Item: "compute_voucher",
					Year: 2025, Pool: "hot", Amount: 1 + rng.Int64N(s.maxAmount), Caps: s.caps(e)}
				_, err := l.Reserve(ctx, g)
				var le *Error
				switch {
				case err == nil:
					n++
					ok[pool] += g.Amount
					for _, cp := range g.Caps {
						ok[cp.Key] += g.Amount
					}
				case errorsAs(err, &le) && (le.Code == CodeInsufficientFunds || le.Code == CodeExceedsCap):
					refused[le.Subject] = append(refused[le.Subject], g.Amount)
				default:
					t.Errorf("reserve %s: %v", g.ID, err)
					return
				}
			}
			out.mu.Lock()
			defer out.mu.Unlock()
			out.granted += n
			for k, v := range ok {
				out.ok[k] += v
			}
			for k, v := range refused {
				out.refusedAt[k] = append(out.refusedAt[k], v...)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}
	total := s.clients * s.perClient
	t.Logf("%d reservations by %d clients on %d instance(s) in %s (%.0f/s): %d granted",
		total, s.clients, len(ls), elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), out.granted)

	// Every account holds exactly the sum of the acknowledged reservations,
	// within its limit.
	keys := []string{pool}
	for e := range s.enterprises {
		for _, c := range s.caps(e) {
			keys = append(keys, c.Key)
		}
	}
	bs, err := ls[0].Balances(ctx, keys...)
	if err != nil {
		t.Fatal(err)
	}
	var refusedPool, refusedCap int
	for _, b := range bs {
		if b.DebitsPending != out.ok[b.Key] {
			t.Errorf("%s holds %d pending, acknowledged reservations sum to %d", b.Key, b.DebitsPending, out.ok[b.Key])
		}
		if b.Available < 0 || b.DebitsPending > b.CreditsPosted {
			t.Errorf("%s overspent: %+v", b.Key, b)
		}
		// No refusal was spurious: availability only fell, so whatever was
		// refused for lack of room must still not fit.
		for _, a := range out.refusedAt[b.Key] {
			if a <= b.Available {
				t.Errorf("%s refused %d but still has %d available", b.Key, a, b.Available)
				break
			}
		}
		if b.Key == pool {
			refusedPool = len(out.refusedAt[b.Key])
		} else {
			refusedCap += len(out.refusedAt[b.Key])
		}
	}
	for k := range out.refusedAt {
		if !contains(keys, k) {
			t.Errorf("a refusal names %s, which is neither the pool nor a cap", k)
		}
	}
	if refusedPool == 0 || refusedCap == 0 || out.granted == 0 {
		t.Errorf("the contest did not exercise both bounds: %d granted, %d refused by the pool, %d by caps", out.granted, refusedPool, refusedCap)
	}
	t.Logf("refused: %d by the pool, %d by caps; pool left %d of %d", refusedPool, refusedCap, bs[0].Available, s.pool)
	r := mustVerify(t, db)
	if r.Grants != out.granted+grantsBefore(t, db, prefix) {
		t.Errorf("verify counted %d grants, clients acknowledged %d", r.Grants, out.granted)
	}
}

// grantsBefore counts grants not made by this contest (none: each contest
// runs on a fresh database).
func grantsBefore(t *testing.T, db *store.DB, prefix string) int { return 0 }

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestConcurrentReservations: 64 goroutines × 10,000 reservations of random
// amounts against one pool and shared caps. Run the full size with
//
//	go test -count=1 -run TestConcurrentReservations ./ledger/
//
// (it is scaled down under -race and -short; POLICYDESK_LEDGER_FULL=1
// forces the full size anywhere, PostgreSQL included).
func TestConcurrentReservations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := open(t, db, Options{})
		race(t, db, []*Ledger{l}, newRaceSpec(64, perClient(t, db.Dialect())), "")
	})
}

// Two ledger instances on one database — as two processes of policydesk
// would be — race for the same pool and caps: the database arbitrates.
func TestTwoInstancesCannotOverspend(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		var dbs []*store.DB
		var ls []*Ledger
		for range 2 {
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			dbs = append(dbs, db)
			ls = append(ls, open(t, db, Options{}))
		}
		per := 300
		if raceEnabled || testing.Short() {
			per = 60
		}
		race(t, dbs[0], ls, newRaceSpec(16, per), "")
	})
}
