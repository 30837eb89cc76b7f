package reliability_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"policydesk/auth"
	"policydesk/desk"
	"policydesk/reliability"
	"policydesk/store"
	"policydesk/store/storetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/policydesk once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "policydesk-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "policydesk")
		out, err := exec.Command("go", "build", "-o", binPath, "policydesk/cmd/policydesk").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is `policydesk serve` running in a child process.
type server struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
	done   chan error
}

var servingURL = regexp.MustCompile(`serving at (http://127\.0\.0\.1:[0-9]+)/`)

// startServer runs the binary on a port of 127.0.0.1 that the kernel
// chooses, and waits until it serves.
func startServer(t *testing.T, bin, dsn, dataDir string) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", dsn, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "POLICYDESK_KEY=00112233445566778899aabbccddeeff", "POLICYDESK_DB=", "POLICYDESK_ADDR=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.base = <-found:
		return s
	case err := <-s.done:
		t.Fatalf("serve exited before serving: %v\n%s", err, s.stderr.all())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve did not start in 60 s:\n%s", s.stderr.all())
	}
	return nil
}

func (s *syncBuffer) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill(t *testing.T) {
	t.Helper()
	s.cmd.Process.Kill()
	<-s.done
}

// crashRounds is POLICYDESK_CRASH_ROUNDS, 3 by default (CI).
func crashRounds(t *testing.T) int {
	n := 3
	if v := os.Getenv("POLICYDESK_CRASH_ROUNDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("POLICYDESK_CRASH_ROUNDS=%q: want a positive number", v)
		}
	}
	return n
}

// TestCrashRestart kills `policydesk serve` with SIGKILL at a random
// moment of mixed load — enterprises creating, uploading, signing and
// submitting with idempotency keys, reviewers accepting, returning and
// proposing (which reserves money in the ledger), providers importing
// metering exports — restarts it on the same database, and checks after
// every restart:
//
//   - the ledger and the audit chain verify;
//   - every request that got a success answer is durable, every
//     acknowledged import with all its rows (Check);
//   - every submit that was in flight when the server died, retried with
//     its idempotency key, succeeds, and each acknowledged submission is
//     stored exactly once;
//   - a submit retried with the key of an acknowledged one answers the
//     same outcome and changes nothing;
//   - start-up reconciliation finds no application that should hold a
//     reservation but does not.
//
// POLICYDESK_CRASH_ROUNDS sets the number of kills per engine (CI: 3; the
// README's long run: 20). At the end the server stops with SIGTERM and
// must exit 0 after draining.
func TestCrashRestart(t *testing.T) {
	if testing.Short() && os.Getenv("POLICYDESK_CRASH_ROUNDS") == "" {
		t.Skip("-short: set POLICYDESK_CRASH_ROUNDS to run")
	}
	bin := binary(t)
	rounds := crashRounds(t)
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*45*time.Second+2*time.Minute)
		defer cancel()
		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, 7))
		t.Logf("seed %d, %d rounds", seed, rounds)

		const perRound = 16
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		as := auth.NewStore(db)
		add := func(login string, role auth.Role, ent, dept string) {
			if _, err := reliability.AddUser(ctx, as, auth.User{Login: login, Name: login, Role: role, Enterprise: ent, Department: dept}, password); err != nil {
				t.Fatal(err)
			}
		}
		add("admin", auth.RoleAdmin, "", "")
		var reviewers []reliability.Reviewer
		for _, d := range reliability.Departments {
			add("rev-"+d, auth.RoleReviewer, "", d)
			reviewers = append(reviewers, reliability.Reviewer{Login: "rev-" + d, Department: d})
		}
		var providers []reliability.Provider
		customers := make([]reliability.Enterprise, 4)
		for i := range 2 {
			providers = append(providers, reliability.Provider{Login: fmt.Sprintf("prov%d", i), USCC: reliability.ProviderCode(i)})
			add(providers[i].Login, auth.RoleProvider, providers[i].USCC, "")
		}
		for i := range customers {
			customers[i] = reliability.Enterprise{Login: fmt.Sprintf("cust%d", i), USCC: reliability.EnterpriseCode(90000 + i)}
			add(customers[i].Login, auth.RoleEnterprise, customers[i].USCC, "")
		}
		ents := make([]reliability.Enterprise, rounds*perRound)
		for i := range ents {
			ents[i] = reliability.Enterprise{Login: fmt.Sprintf("ent%04d", i), USCC: reliability.EnterpriseCode(i)}
			add(ents[i].Login, auth.RoleEnterprise, ents[i].USCC, "")
		}

		dataDir := t.TempDir()
		srv := startServer(t, bin, dsn, dataDir)
		defer func() {
			if srv != nil {
				srv.kill(t)
			}
		}()
		w := &reliability.Workload{Base: srv.base, Password: password, Reviewers: reviewers, Think: 10 * time.Millisecond, ReturnPct: 10,
			Timeout: 20 * time.Second, Stats: reliability.NewStats(), Acks: reliability.NewAcks()}
		if err := w.OpenRound(ctx, "admin"); err != nil {
			t.Fatal(err)
		}
		w.Providers, w.SettleRows = providers, 50
		if err := w.Register(ctx, customers, 4); err != nil {
			t.Fatal(err)
		}
		if err := w.SetupProviders(ctx, "admin", customers, 2); err != nil {
			t.Fatal(err)
		}
		retried, replayed, released := 0, 0, 0
		releasedAt := map[string][]int{} // application → rounds whose restart released its reservation
		missingSeen := map[string]bool{}
		for round := 0; round < rounds; round++ {
			mine := ents[round*perRound : (round+1)*perRound]
			w.Base = srv.base
			if err := w.Register(ctx, mine, 4); err != nil {
				t.Fatalf("round %d: register: %v", round, err)
			}
			load, stop := context.WithCancel(ctx)
			w.Stop = stop
			var wg sync.WaitGroup
			for _, e := range mine {
				wg.Add(1)
				go func() { defer wg.Done(); w.RunEnterprise(load, e) }()
			}
			for _, p := range w.Providers {
				wg.Add(1)
				go func() { defer wg.Done(); w.RunProvider(load, p) }()
			}
			for _, rv := range reviewers {
				wg.Add(1)
				go func() { defer wg.Done(); w.RunReviewer(load, rv, 0, 1) }()
			}
			// SIGKILL at a random moment of the load: after a random number
			// of answers, so that the kill lands while requests fly.
			target := w.Stats.Total() + 5 + rng.IntN(120)
			for deadline := time.Now().Add(5 * time.Second); w.Stats.Total() < target && time.Now().Before(deadline); {
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			}
			srv.kill(t)
			stop()
			wg.Wait()

			srv = startServer(t, bin, dsn, dataDir)
			w.Base = srv.base
			if strings.Contains(srv.stderr.all(), "panic") {
				t.Fatalf("round %d: panic at start:\n%s", round, srv.stderr.all())
			}
			// In-flight submits, retried with their keys, succeed once.
			for _, p := range w.Acks.InFlight() {
				c := reliability.NewClient(srv.base, nil, 20*time.Second)
				if err := c.Login(ctx, p.Enterprise.Login, password); err != nil {
					t.Fatal(err)
				}
				r, err := c.JSON(ctx, "POST", "/api/v1/applications/"+p.App+"/submit", nil, "Idempotency-Key", p.Key)
				if err != nil || !r.OK() {
					t.Fatalf("round %d: retried in-flight submit %s of %s: %v %v", round, p.Key, p.App, err, r.Err())
				}
				var app desk.Application
				r.Decode(&app)
				w.Acks.Add(reliability.Ack{Op: reliability.OpSubmit, App: app.ID, Key: p.Key, State: app.State, Version: app.Version, Body: string(r.Body)})
				retried++
			}
			// Acknowledged submits, retried with their keys, answer the
			// same outcome.
			for _, a := range w.Acks.List() {
				if a.Op != reliability.OpSubmit || rng.IntN(4) != 0 {
					continue
				}
				var orig desk.Application
				json.Unmarshal([]byte(a.Body), &orig)
				login := ""
				for _, e := range ents {
					if e.USCC == orig.USCC {
						login = e.Login
					}
				}
				c := reliability.NewClient(srv.base, nil, 20*time.Second)
				if err := c.Login(ctx, login, password); err != nil {
					t.Fatal(err)
				}
				r, err := c.JSON(ctx, "POST", "/api/v1/applications/"+a.App+"/submit", nil, "Idempotency-Key", a.Key)
				if err != nil || !r.OK() {
					t.Fatalf("round %d: replayed submit %s: %v %v", round, a.Key, err, r.Err())
				}
				var again desk.Application
				r.Decode(&again)
				if again.ID != orig.ID || again.State != orig.State || again.Version != orig.Version || again.Allowed != orig.Allowed {
					t.Fatalf("round %d: submit replayed with key %s answered %s/%s v%d, first %s/%s v%d", round, a.Key, again.ID, again.State, again.Version, orig.ID, orig.State, orig.Version)
				}
				replayed++
			}
			rep, err := reliability.Check(ctx, db, w.Acks.List())
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Err(); err != nil {
				t.Fatalf("round %d after SIGKILL: %v", round, err)
			}
			for _, line := range strings.Split(srv.stderr.all(), "\n") {
				if !strings.Contains(line, "reconciliation at start") {
					continue
				}
				var rec struct{ Released, Missing []string }
				json.Unmarshal([]byte(line), &rec)
				for _, id := range rec.Missing {
					if missingSeen[id] {
						continue
					}
					missingSeen[id] = true
					var state, grant string
					db.QueryRow(ctx, `SELECT state, grant_id FROM desk_applications WHERE id = ?`, id).Scan(&state, &grant)
					t.Errorf("round %d: start-up reconciliation: application %s (state %s, grant %q) holds no reservation; its orphan reservation was released at the restart after round(s) %v",
						round, id, state, grant, releasedAt[id])
				}
				for _, id := range rec.Released {
					releasedAt[id] = append(releasedAt[id], round)
				}
				released += len(rec.Released)
			}
		}
		// A clean stop drains and exits 0.
		srv.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-srv.done:
			if err != nil {
				t.Fatalf("serve after SIGINT: %v\n%s", err, srv.stderr.all())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30 s of SIGINT")
		}
		srv = nil
		rep, err := reliability.Check(ctx, db, w.Acks.List())
		if err != nil || rep.Err() != nil {
			t.Fatalf("at the end: %v %v", err, rep.Err())
		}
		codes, _ := w.Stats.Codes()
		imports := 0
		for _, a := range w.Acks.List() {
			if a.Op == reliability.OpSettle {
				imports++
			}
		}
		t.Logf("%d kills: %d requests, %d acknowledged (%d submissions, each stored once; %d metering imports, each with its rows), %d in-flight submits retried, %d replayed, %d orphan reservations released at restart; ledger %d transfers, audit %d rows; failed answers %v",
			rounds, w.Stats.Total(), rep.Acks, rep.Submissions, imports, retried, replayed, released, rep.Ledger.Transfers, rep.Audit.Rows, codes)
	})
}
