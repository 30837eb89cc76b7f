package auth

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"policydesk/apperr"
	"policydesk/audit"
	"policydesk/store"
	"policydesk/store/storetest"
)

func TestMain(m *testing.M) {
	SetParams(TestParams)
	os.Exit(m.Run())
}

const (
	entUSCC = "91110302MA01AB3C7G"
	goodPW  = "correct horse battery"
)

var t0 = time.Date(2025, 6, 30, 9, 0, 0, 0, time.UTC)

// recorder collects audit events and checks each arrives inside a
// transaction.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) audit(ctx context.Context, tx *store.Tx, e Event) error {
	if tx == nil {
		return errors.New("audit outside a transaction")
	}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	return nil
}

func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var a []string
	for _, e := range r.events {
		a = append(a, e.Action)
	}
	return a
}

func newStore(t *testing.T, db *store.DB) (*Store, *recorder) {
	rec := &recorder{}
	return NewStoreWithOptions(db, Options{Audit: rec.audit, Now: func() time.Time { return t0 }}), rec
}

func addUser(t *testing.T, s *Store, login string, role Role) User {
	t.Helper()
	u := User{Login: login, Name: "测试 " + login, Role: role}
	switch role {
	case RoleEnterprise, RoleProvider:
		u.Enterprise = entUSCC
	case RoleReviewer:
		u.Department = "info_tech"
	}
	got, err := s.AddUser(context.Background(), nil, u, goodPW)
	if err != nil {
		t.Fatalf("AddUser(%s): %v", login, err)
	}
	return got
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword(goodPW)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("PHC string %q", h)
	}
	h2, _ := HashPassword(goodPW)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !CheckPassword(h, goodPW) || !CheckPassword(h2, goodPW) {
		t.Fatal("CheckPassword refuses the right password")
	}
	if CheckPassword(h, goodPW+"x") || CheckPassword(h, "") {
		t.Fatal("CheckPassword accepts a wrong password")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", h[:len(h)-3],
		strings.Replace(h, "m=64", "m=99999999", 1), strings.Replace(h, "v=19", "v=16", 1), strings.Replace(h, "t=1", "t=0", 1)} {
		if CheckPassword(bad, goodPW) {
			t.Errorf("CheckPassword(%q) matched", bad)
		}
	}
	// Hashes keep their own parameters: a change of defaults does not
	// invalidate existing passwords.
	old := SetParams(Params{Memory: 128, Time: 2, Threads: 1})
	defer SetParams(old)
	if !CheckPassword(h, goodPW) {
		t.Fatal("old hash stopped verifying after a parameter change")
	}
	if h3, _ := HashPassword(goodPW); !strings.Contains(h3, "m=128,t=2,p=1") {
		t.Fatalf("new parameters not used: %s", h3)
	}
}

// BenchmarkHashPassword measures the production parameters: a login costs
// one hash. Run: go test -run=^$ -bench=HashPassword ./auth/
func BenchmarkHashPassword(b *testing.B) {
	old := SetParams(DefaultParams)
	defer SetParams(old)
	for b.Loop() {
		if _, err := HashPassword(goodPW); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAddUserValidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, rec := newStore(t, db)
		ctx := NewContext(context.Background(), Principal{UserID: "u_admin", Role: RoleAdmin})
		cases := []struct {
			name  string
			u     User
			pw    string
			field string
		}{
			{"ok enterprise", User{Login: "acme", Name: "某某科技", Role: RoleEnterprise, Enterprise: entUSCC}, goodPW, ""},
			{"ok reviewer", User{Login: "rev.1", Name: "审核人", Role: RoleReviewer, Department: "info_tech"}, goodPW, ""},
			{"ok expert with employer", User{Login: "exp@x", Name: "专家", Role: RoleExpert, Enterprise: entUSCC}, goodPW, ""},
			{"short password", User{Login: "short", Name: "n", Role: RoleAdmin}, "123456789", "password"},
			{"ten Chinese characters pass", User{Login: "cn-pw", Name: "n", Role: RoleAdmin}, "一二三四五六七八九十", ""},
			{"bad login", User{Login: "a b", Name: "n", Role: RoleAdmin}, goodPW, "login"},
			{"login too short", User{Login: "ab", Name: "n", Role: RoleAdmin}, goodPW, "login"},
			{"no name", User{Login: "noname", Name: "  ", Role: RoleAdmin}, goodPW, "name"},
			{"bad role", User{Login: "badrole", Name: "n", Role: "root"}, goodPW, "role"},
			{"reviewer without department", User{Login: "rev2", Name: "n", Role: RoleReviewer}, goodPW, "department"},
			{"reviewer with unknown department", User{Login: "rev3", Name: "n", Role: RoleReviewer, Department: "Bad Dept"}, goodPW, "department"},
			{"enterprise without USCC", User{Login: "ent2", Name: "n", Role: RoleEnterprise}, goodPW, "enterprise"},
			{"enterprise with bad check digit", User{Login: "ent3", Name: "n", Role: RoleEnterprise, Enterprise: "91110302MA01AB3C7H"}, goodPW, "enterprise"},
			{"provider with department", User{Login: "prov", Name: "n", Role: RoleProvider, Enterprise: entUSCC, Department: "info_tech"}, goodPW, "department"},
			{"duplicate login, other case", User{Login: "ACME", Name: "n", Role: RoleAdmin}, goodPW, "login"},
		}
		for _, c := range cases {
			u, err := s.AddUser(ctx, nil, c.u, c.pw)
			if c.field == "" {
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
				} else if u.ID == "" || !u.CreatedAt.Equal(t0) {
					t.Errorf("%s: got %+v", c.name, u)
				}
				continue
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Field != c.field || ae.Message == "" {
				t.Errorf("%s: error %v, want one on field %s", c.name, err, c.field)
			}
		}
		if got := rec.actions(); len(got) != 4 || got[0] != "user.add" {
			t.Errorf("audit events %v, want 4 user.add", got)
		}
		if rec.events[0].Actor.UserID != "u_admin" {
			t.Errorf("audit actor %+v, want the context's principal", rec.events[0].Actor)
		}
		u, err := s.UserByLogin(ctx, "AcMe")
		if err != nil || u.Login != "acme" || u.Enterprise != entUSCC {
			t.Fatalf("UserByLogin = %+v, %v", u, err)
		}
		if _, err := s.User(ctx, "u_nobody"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("User(unknown) = %v, want not_found", err)
		}
		all, err := s.Users(ctx, "")
		if err != nil || len(all) != 4 {
			t.Fatalf("Users = %d, %v", len(all), err)
		}
		revs, _ := s.Users(ctx, RoleReviewer)
		if len(revs) != 1 || revs[0].Department != "info_tech" {
			t.Fatalf("Users(reviewer) = %+v", revs)
		}
		// A tx given by the caller: the user and the caller's writes commit
		// or roll back together.
		err = db.Tx(ctx, func(tx *store.Tx) error {
			if _, err := s.AddUser(ctx, tx, User{Login: "rolledback", Name: "n", Role: RoleFinance}, goodPW); err != nil {
				return err
			}
			return errors.New("caller fails")
		})
		if err == nil {
			t.Fatal("want the caller's error")
		}
		if _, err := s.UserByLogin(ctx, "rolledback"); !apperr.Is(err, apperr.NotFound) {
			t.Fatal("user of a rolled-back transaction exists")
		}
	})
}

func TestLoginLookupLogout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := newStore(t, db)
		u := addUser(t, s, "ent.user", RoleEnterprise)
		p, sess, err := s.Login(ctx, "ENT.USER", goodPW, "10.0.0.1", t0)
		if err != nil {
			t.Fatal(err)
		}
		if p.UserID != u.ID || p.Role != RoleEnterprise || p.Enterprise != entUSCC || p.Anonymous() {
			t.Fatalf("principal %+v", p)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(sess.ID) {
			t.Fatalf("session id %q is not 32 bytes of base64url", sess.ID)
		}
		// Only the hash is stored.
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM auth_sessions WHERE id_hash = ?`, sess.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("raw session id found in the database (%d, %v)", n, err)
		}
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM auth_sessions WHERE id_hash = ?`, hashID(sess.ID)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("hashed session id not found (%d, %v)", n, err)
		}
		p2, _, err := s.Lookup(ctx, sess.ID, t0.Add(time.Minute))
		if err != nil || p2 != p {
			t.Fatalf("Lookup = %+v, %v", p2, err)
		}
		for _, bad := range []string{"", "x", sess.ID[:42], sess.ID + "A", strings.Repeat("A", 43)} {
			if _, _, err := s.Lookup(ctx, bad, t0); !apperr.Is(err, apperr.Unauthorized) {
				t.Errorf("Lookup(%q) = %v, want unauthorized", bad, err)
			}
		}
		if err := s.Logout(ctx, sess.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Lookup(ctx, sess.ID, t0.Add(2*time.Minute)); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatalf("Lookup after logout = %v", err)
		}
		if err := s.Logout(ctx, sess.ID); err != nil {
			t.Fatalf("second Logout: %v", err)
		}
		// Wrong password and unknown login give the same error.
		_, _, e1 := s.Login(ctx, "ent.user", "wrong password!", "10.0.0.1", t0)
		_, _, e2 := s.Login(ctx, "nobody", "wrong password!", "10.0.0.1", t0)
		if !apperr.Is(e1, apperr.Unauthorized) || e1.Error() != e2.Error() {
			t.Fatalf("wrong password %v / unknown login %v should be the same unauthorized", e1, e2)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := newStore(t, db)
		addUser(t, s, "idle", RoleFinance)

		// Idle: used every 20 minutes the session lives; 30 minutes of
		// silence end it.
		_, sess, err := s.Login(ctx, "idle", goodPW, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		for range 5 {
			now = now.Add(20 * time.Minute)
			if _, got, err := s.Lookup(ctx, sess.ID, now); err != nil {
				t.Fatalf("Lookup at %s: %v", now.Sub(t0), err)
			} else if !got.LastSeen.Equal(now) || !got.Expires.Equal(now.Add(30*time.Minute)) {
				t.Fatalf("session %+v not touched at %s", got, now)
			}
		}
		if _, _, err := s.Lookup(ctx, sess.ID, now.Add(30*time.Minute)); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatalf("idle session alive after 30 min: %v", err)
		}
		if _, _, err := s.Lookup(ctx, sess.ID, now); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatal("an idle-expired session came back")
		}

		// Absolute: a session in constant use ends 12 hours after login.
		_, sess, err = s.Login(ctx, "idle", goodPW, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		for now = t0.Add(10 * time.Minute); now.Before(t0.Add(12 * time.Hour)); now = now.Add(10 * time.Minute) {
			if _, _, err := s.Lookup(ctx, sess.ID, now); err != nil {
				t.Fatalf("busy session ended at %s: %v", now.Sub(t0), err)
			}
		}
		if _, _, err := s.Lookup(ctx, sess.ID, t0.Add(12*time.Hour)); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatalf("session alive at 12 h: %v", err)
		}

		// Configurable, and PurgeExpired removes what is dead.
		short := NewStoreWithOptions(db, Options{IdleTimeout: time.Minute, AbsoluteTimeout: 5 * time.Minute, TouchEvery: time.Second})
		_, s1, _ := short.Login(ctx, "idle", goodPW, "", t0)
		_, s2, _ := short.Login(ctx, "idle", goodPW, "", t0)
		if _, _, err := short.Lookup(ctx, s1.ID, t0.Add(59*time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := short.PurgeExpired(ctx, t0.Add(90*time.Second))
		if err != nil || n < 1 {
			t.Fatalf("PurgeExpired = %d, %v; want s2 purged", n, err)
		}
		if _, _, err := short.Lookup(ctx, s2.ID, t0.Add(30*time.Second)); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatal("purged session still works")
		}
		if _, _, err := short.Lookup(ctx, s1.ID, t0.Add(100*time.Second)); err != nil {
			t.Fatalf("live session purged: %v", err)
		}
	})
}

func TestLogoutEverywhereAndDisable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, rec := newStore(t, db)
		u := addUser(t, s, "multi", RoleExpert)
		other := addUser(t, s, "other", RoleExpert)
		var ids []string
		for range 3 {
			_, sess, err := s.Login(ctx, "multi", goodPW, "", t0)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, sess.ID)
		}
		_, keep, _ := s.Login(ctx, "other", goodPW, "", t0)
		if err := s.LogoutEverywhere(NewContext(ctx, u.Principal()), u.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if _, _, err := s.Lookup(ctx, id, t0); !apperr.Is(err, apperr.Unauthorized) {
				t.Fatal("a session survived LogoutEverywhere")
			}
		}
		if _, _, err := s.Lookup(ctx, keep.ID, t0); err != nil {
			t.Fatalf("another user's session ended: %v", err)
		}

		admin := NewContext(ctx, Principal{UserID: "u_admin", Role: RoleAdmin})
		if err := s.SetDisabled(admin, nil, other.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Lookup(ctx, keep.ID, t0); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatal("a disabled user's session works")
		}
		if _, _, err := s.Login(ctx, "other", goodPW, "", t0); !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("disabled user logs in: %v", err)
		}
		if err := s.SetDisabled(NewContext(ctx, other.Principal()), nil, other.ID, true); !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("self-disable: %v", err)
		}
		if err := s.SetDisabled(admin, nil, other.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Login(ctx, "other", goodPW, "", t0); err != nil {
			t.Fatalf("re-enabled user: %v", err)
		}
		if err := s.SetPassword(admin, nil, other.ID, "a new long password"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Login(ctx, "other", goodPW, "", t0); err == nil {
			t.Fatal("old password still works")
		}
		if _, _, err := s.Login(ctx, "other", "a new long password", "", t0); err != nil {
			t.Fatal(err)
		}
		want := []string{"user.add", "user.add", "session.logout_everywhere", "user.disable", "user.enable", "user.password"}
		if got := rec.actions(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("audit %v, want %v", got, want)
		}
		if ok, err := s.HasAdmin(ctx); err != nil || ok {
			t.Fatalf("HasAdmin = %v, %v", ok, err)
		}
		addUser(t, s, "root", RoleAdmin)
		if ok, _ := s.HasAdmin(ctx); !ok {
			t.Fatal("HasAdmin false with an admin")
		}
	})
}

func TestThrottle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, rec := newStore(t, db)
		addUser(t, s, "victim", RoleFinance)
		now := t0
		for i := 1; i <= 5; i++ {
			_, _, err := s.Login(ctx, "victim", "not the password", "10.0.0.9", now)
			if !apperr.Is(err, apperr.Unauthorized) {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		// The sixth attempt, even with the right password, must wait.
		_, _, err := s.Login(ctx, "victim", goodPW, "10.0.0.10", now)
		var th *Throttled
		if !apperr.Is(err, apperr.RateLimited) || !errors.As(err, &th) || !th.Until.Equal(now.Add(time.Second)) {
			t.Fatalf("after 5 failures: %v, want rate_limited until +1s", err)
		}
		var ae *apperr.Error
		errors.As(err, &ae)
		if !strings.Contains(ae.Message, "秒后再试") {
			t.Fatalf("message %q", ae.Message)
		}
		if got := rec.actions(); len(got) != 2 || got[1] != "login.lockout" {
			t.Fatalf("audit %v, want a lockout row", got)
		}
		// The delay doubles with each further failure: 2 s, 4 s, 8 s.
		for _, want := range []time.Duration{2, 4, 8} {
			now = th.Until
			_, _, err := s.Login(ctx, "victim", "still wrong", "10.0.0.9", now)
			if !apperr.Is(err, apperr.Unauthorized) {
				t.Fatalf("attempt after the delay: %v", err)
			}
			_, _, err = s.Login(ctx, "victim", goodPW, "10.0.0.9", now)
			if !errors.As(err, &th) || th.Until.Sub(now) != want*time.Second {
				t.Fatalf("delay %v, want %v s", err, want)
			}
		}
		// Another instance (another Store on the same database) agrees.
		s2 := NewStore(db)
		if _, _, err := s2.Login(ctx, "victim", goodPW, "10.0.0.11", now); !apperr.Is(err, apperr.RateLimited) {
			t.Fatalf("second instance: %v", err)
		}
		// After the delay the right password works and clears the count.
		now = th.Until
		if _, _, err := s.Login(ctx, "victim", goodPW, "10.0.0.9", now); err != nil {
			t.Fatalf("right password after the delay: %v", err)
		}
		if _, _, err := s.Login(ctx, "victim", "wrong again!", "10.0.0.12", now); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatalf("a single failure after success is locked: %v", err)
		}
		if _, _, err := s.Login(ctx, "victim", goodPW, "10.0.0.12", now); err != nil {
			t.Fatalf("count not cleared by success: %v", err)
		}
		// Failures older than the window are forgotten.
		for range 4 {
			s.Login(ctx, "victim", "wrong", "", now)
		}
		now = now.Add(16 * time.Minute)
		s.Login(ctx, "victim", "wrong", "", now)
		if _, _, err := s.Login(ctx, "victim", goodPW, "", now); err != nil {
			t.Fatalf("old failures counted: %v", err)
		}
	})
}

func TestThrottleByAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := NewStoreWithOptions(db, Options{MaxIPFailures: 3})
		addUser(t, s, "alice", RoleFinance)
		// Three different unknown logins from one address: password spraying.
		for _, l := range []string{"a1x", "a2x", "a3x"} {
			if _, _, err := s.Login(ctx, l, "whatever123", "192.0.2.7", t0); !apperr.Is(err, apperr.Unauthorized) {
				t.Fatal(err)
			}
		}
		if _, _, err := s.Login(ctx, "alice", goodPW, "192.0.2.7", t0); !apperr.Is(err, apperr.RateLimited) {
			t.Fatalf("address not throttled: %v", err)
		}
		if _, _, err := s.Login(ctx, "alice", goodPW, "192.0.2.8", t0); err != nil {
			t.Fatalf("another address throttled: %v", err)
		}
	})
}

func TestConcurrentFailuresAllCount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := NewStoreWithOptions(db, Options{MaxFailures: 1000})
		addUser(t, s, "race", RoleFinance)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { s.Login(ctx, "race", "wrong password", "", t0) })
		}
		wg.Wait()
		var n int
		if err := db.QueryRow(ctx, `SELECT failures FROM auth_throttle WHERE subject = 'login:race'`).Scan(&n); err != nil || n != 20 {
			t.Fatalf("failures = %d, %v; want 20", n, err)
		}
	})
}

func TestAuditTrail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := NewStoreWithOptions(db, Options{Now: func() time.Time { return t0 },
			RequestID: func(context.Context) string { return "req-test-1" }})
		admin := NewContext(ctx, Principal{UserID: "u_root", Role: RoleAdmin})
		u, err := s.AddUser(admin, nil, User{Login: "acme", Name: "某某科技", Role: RoleEnterprise, Enterprise: entUSCC}, goodPW)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisabled(admin, nil, u.ID, true); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			s.Login(ctx, "ghost", "wrong password", "", t0)
		}
		rows, err := audit.List(ctx, db, audit.Filter{Ascending: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Action+"/"+r.ActorID+"/"+r.EntityID)
		}
		want := []string{"user.add/u_root/" + u.ID, "user.disable/u_root/" + u.ID, "login.lockout/anonymous/login:ghost"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("audit rows %v, want %v", got, want)
		}
		if rows[0].Enterprise != entUSCC || rows[0].RequestID != "req-test-1" || strings.Contains(string(rows[0].After), "password") {
			t.Fatalf("row %+v", rows[0])
		}
		rep, err := audit.Verify(ctx, db)
		if err != nil || !rep.OK() {
			t.Fatalf("audit verify: %+v, %v", rep, err)
		}
	})
}
