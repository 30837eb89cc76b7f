package auth

import (
	"context"
	"testing"
	"time"

	"policydesk/apperr"
	"policydesk/store"
	"policydesk/store/storetest"
)

// cachedStore is a store whose session cache keeps entries for ttl.
func cachedStore(t *testing.T, db *store.DB, ttl time.Duration) *Store {
	rec := &recorder{}
	return NewStoreWithOptions(db, Options{Audit: rec.audit, Now: func() time.Time { return t0 }, SessionCacheTTL: ttl})
}

// TestSessionCache: a looked-up session is answered from memory (a row
// deleted behind auth's back, as another instance would, still works for
// at most the TTL), and every way of ending sessions in this process takes
// effect at once.
func TestSessionCache(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := cachedStore(t, db, time.Hour)
		u := addUser(t, s, "cached", RoleReviewer)
		login := func() string {
			t.Helper()
			_, sess, err := s.Login(ctx, "cached", goodPW, "", t0)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Lookup(ctx, sess.ID, t0); err != nil {
				t.Fatal(err)
			}
			return sess.ID
		}
		signedOut := func(id, what string) {
			t.Helper()
			if _, _, err := s.Lookup(ctx, id, t0); !apperr.Is(err, apperr.Unauthorized) {
				t.Fatalf("%s: the session still works (%v)", what, err)
			}
		}

		// Served from the cache: the database row is gone, the answer stays.
		id := login()
		if _, err := db.Exec(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, hashID(id)); err != nil {
			t.Fatal(err)
		}
		p, sess, err := s.Lookup(ctx, id, t0.Add(time.Second))
		if err != nil || p.UserID != u.ID || p.Department != "info_tech" || sess.ID != id {
			t.Fatalf("cached Lookup = %+v %+v %v", p, sess, err)
		}
		// …but not past the expiry it knows, nor when last_seen is due: the
		// database decides, and the row is gone.
		signedOutAt := func(at time.Time, what string) {
			t.Helper()
			if _, _, err := s.Lookup(ctx, id, at); !apperr.Is(err, apperr.Unauthorized) {
				t.Fatalf("%s: %v", what, err)
			}
		}
		signedOutAt(t0.Add(s.opt.TouchEvery), "due to be touched")
		if s.cache.len() != 0 {
			t.Fatalf("a refused session stays cached")
		}

		// Logout here ends the session at once.
		id = login()
		if err := s.Logout(ctx, id); err != nil {
			t.Fatal(err)
		}
		signedOut(id, "Logout")

		// So do LogoutEverywhere, disabling and a new password.
		a, b := login(), login()
		if err := s.LogoutEverywhere(NewContext(ctx, u.Principal()), u.ID); err != nil {
			t.Fatal(err)
		}
		signedOut(a, "LogoutEverywhere")
		signedOut(b, "LogoutEverywhere")

		admin := NewContext(ctx, Principal{UserID: "u_admin", Role: RoleAdmin})
		id = login()
		if err := s.SetDisabled(admin, nil, u.ID, true); err != nil {
			t.Fatal(err)
		}
		signedOut(id, "SetDisabled")
		if err := s.SetDisabled(admin, nil, u.ID, false); err != nil {
			t.Fatal(err)
		}

		id = login()
		if err := s.SetPassword(admin, nil, u.ID, "another long password"); err != nil {
			t.Fatal(err)
		}
		signedOut(id, "SetPassword")
		if err := s.SetPassword(admin, nil, u.ID, goodPW); err != nil {
			t.Fatal(err)
		}

		// In the caller's transaction: at once after its commit, and no
		// lookup during it caches the session again.
		id = login()
		err = db.Tx(ctx, func(tx *store.Tx) error {
			if err := s.SetDisabled(admin, tx, u.ID, true); err != nil {
				return err
			}
			// A lookup while the change is not committed may see the old
			// row; it must not cache it.
			_, _, _ = s.Lookup(ctx, id, t0)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		signedOut(id, "SetDisabled in the caller's transaction")
	})
}

// TestSessionCacheTTL: another instance's logout (the row deleted) takes
// effect here once the entry is older than the TTL.
func TestSessionCacheTTL(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	ctx := context.Background()
	s := cachedStore(t, db, 50*time.Millisecond)
	addUser(t, s, "ttl.user", RoleFinance)
	_, sess, err := s.Login(ctx, "ttl.user", goodPW, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lookup(ctx, sess.ID, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, hashID(sess.ID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, _, err := s.Lookup(ctx, sess.ID, t0); !apperr.Is(err, apperr.Unauthorized) {
		t.Fatalf("after the TTL: %v", err)
	}

	// Without a cache every lookup reads the database.
	s = cachedStore(t, db, -1)
	_, sess, err = s.Login(ctx, "ttl.user", goodPW, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lookup(ctx, sess.ID, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, hashID(sess.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lookup(ctx, sess.ID, t0); !apperr.Is(err, apperr.Unauthorized) {
		t.Fatalf("no cache: %v", err)
	}
}

// TestSessionCacheRace: a read that began before an invalidation does not
// put its old answer back; the cache stays bounded.
func TestSessionCacheRace(t *testing.T) {
	c := newSessionCache(time.Hour, 3)
	e := cachedSession{p: Principal{UserID: "u1"}, read: time.Now()}
	gen := c.generation()
	c.dropSession("h1") // a logout between the read and the put
	c.put("h1", gen, e)
	if _, ok := c.get("h1"); ok {
		t.Fatal("a read older than a logout was cached")
	}
	gen = c.generation()
	c.dropUser("u1", 0)
	c.put("h1", gen, e)
	if _, ok := c.get("h1"); ok {
		t.Fatal("a read older than a user's change was cached")
	}
	c.dropUser("u1", time.Hour) // a change in a caller's transaction
	c.put("h1", c.generation(), e)
	if _, ok := c.get("h1"); ok {
		t.Fatal("a held user was cached")
	}
	for i, h := range []string{"a", "b", "c", "d", "e"} {
		c.put(h, c.generation(), cachedSession{p: Principal{UserID: "u" + h}, read: time.Now()})
		if n := c.len(); n > 3 || n == 0 {
			t.Fatalf("after %d puts: %d entries", i+1, n)
		}
	}
}

// TestLoginGate: while the gate says no, Login refuses with its error
// without checking the password.
func TestLoginGate(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	ctx := context.Background()
	s := cachedStore(t, db, 0)
	addUser(t, s, "gated", RoleAdmin)
	s.SetLoginGate(func() error {
		return apperr.New(apperr.Unavailable, "演示数据生成中，请稍候", "demo data is being made")
	})
	if _, _, err := s.Login(ctx, "gated", goodPW, "", t0); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("gated login: %v", err)
	}
	s.SetLoginGate(nil)
	if _, _, err := s.Login(ctx, "gated", goodPW, "", t0); err != nil {
		t.Fatalf("after the gate: %v", err)
	}
}
