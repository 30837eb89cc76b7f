package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"policydesk/store"
)

// A reservation is answered only once its batch is durable: when the
// fsync after its commit fails, the caller gets internal (outcome unknown),
// and so does every later caller, because the database refuses writes from
// then on. After a restart SQLite recovers the file and every invariant
// holds; what was acknowledged before the failure is there.
func TestReserveWhenFsyncFails(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "fsync.db")
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := New(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.FundPool(ctx, "p", 2025, 1_000_000, "f"); err != nil {
		t.Fatal(err)
	}
	grant := func(id string) Grant {
		return Grant{ID: id, Enterprise: "E1", Item: "item", Year: 2025, Pool: "p", Amount: 100,
			Caps: []Cap{{Key: ItemCapKey("E1", "item", 2025), Limit: 10_000}}}
	}
	if _, err := l.Reserve(ctx, grant("acked")); err != nil {
		t.Fatal(err)
	}
	if !db.SimulateFsyncFailure(errors.New("EIO")) {
		t.Fatal("the default SQLite DSN must sync by group fsync")
	}
	_, err = l.Reserve(ctx, grant("unsynced"))
	wantCode(t, err, CodeInternal)
	_, err = l.Reserve(ctx, grant("after"))
	wantCode(t, err, CodeInternal)
	l.Close()
	db.Close()

	db2, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	mustVerify(t, db2)
	l2 := open(t, db2, Options{})
	r, err := l2.Reserve(ctx, grant("acked"))
	if err != nil || !r.Replayed {
		t.Fatalf("the reservation acknowledged before the failure: %+v %v, want a replay", r, err)
	}
	// A caller told "outcome unknown" retries with the same id and learns
	// the outcome: here the commit reached the file, so it is a replay.
	if _, err := l2.Reserve(ctx, grant("unsynced")); err != nil {
		t.Fatalf("retrying the unknown outcome: %v", err)
	}
	if _, err := l2.Reserve(ctx, grant("fresh")); err != nil {
		t.Fatalf("a write after the restart: %v", err)
	}
	mustVerify(t, db2)
}
