package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every Sync must be covered by an fsync that began after the call began
// and ended before it returned; callers that overlap share fsyncs.
func TestWALSyncerGroups(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	if err := os.WriteFile(db+"-wal", []byte("frames"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newWALSyncer(db)
	var clock atomic.Int64
	type span struct{ start, end int64 }
	var mu sync.Mutex
	var syncs []span
	s.fsync = func(f *os.File) error {
		start := clock.Add(1)
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		syncs = append(syncs, span{start, clock.Add(1)})
		mu.Unlock()
		return nil
	}
	const callers = 64
	calls := make([]span, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				before := clock.Add(1)
				if err := s.Sync(); err != nil {
					t.Error(err)
					return
				}
				after := clock.Add(1)
				calls[i] = span{before, after}
				covered := false
				mu.Lock()
				for _, f := range syncs {
					if f.start > before && f.end < after {
						covered = true
					}
				}
				mu.Unlock()
				if !covered {
					t.Errorf("a Sync called at %d returned at %d without an fsync begun after it", before, after)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(syncs); n == 0 || n >= callers*5 {
		t.Errorf("%d fsyncs for %d Sync calls: want at least one, and fewer than the calls (grouped)", n, callers*5)
	}
	if s.syncs != uint64(len(syncs)) {
		t.Errorf("syncs counter %d, fsyncs made %d", s.syncs, len(syncs))
	}
}

// A failed fsync is final: that Sync and every later one fail, even if the
// disk would now report success, and write transactions refuse to begin.
func TestWALSyncerFailureIsSticky(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	if db.wal == nil {
		t.Fatal("synchronous=FULL (the default) must sync by group fsync")
	}
	if _, err := db.Exec(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	fail := true
	db.wal.fsync = func(*os.File) error {
		if fail {
			fail = false
			return errors.New("EIO")
		}
		return nil
	}
	err := db.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES (1)`)
		return err
	})
	if !errors.Is(err, errNotDurable) {
		t.Fatalf("Tx after a failed fsync: %v, want errNotDurable", err)
	}
	if err := db.Sync(); !errors.Is(err, errNotDurable) {
		t.Fatalf("Sync after a failed fsync: %v, want errNotDurable", err)
	}
	wrote := false
	err = db.Tx(ctx, func(tx *Tx) error {
		wrote = true
		return nil
	})
	if !errors.Is(err, errNotDurable) || wrote {
		t.Fatalf("a write after a failed fsync: err %v, ran %v; want refused before it runs", err, wrote)
	}
	if _, err := db.Exec(ctx, `INSERT INTO t VALUES (2)`); !errors.Is(err, errNotDurable) {
		t.Fatalf("Exec after a failed fsync: %v, want errNotDurable", err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM t WHERE v = 2`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused Exec wrote: %d rows, %v", n, err)
	}
}

// With the default synchronous=FULL the connections run NORMAL and every
// write waits for a group fsync of the WAL; ?synchronous=normal has none.
func TestSQLiteSyncMode(t *testing.T) {
	ctx := context.Background()
	full := openTemp(t)
	var mode int
	if err := full.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode); err != nil || mode != 1 {
		t.Fatalf("writer synchronous = %d (%v), want 1 (NORMAL, with group fsync after commit)", mode, err)
	}
	before := full.wal.syncs
	for i := range 3 {
		if err := full.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS t (v INTEGER); INSERT INTO t VALUES (?)`, i)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := full.wal.syncs - before; got != 3 {
		t.Errorf("3 sequential transactions made %d fsyncs, want 3", got)
	}
	// TxUnsynced leaves the fsync to the caller.
	before = full.wal.syncs
	if err := full.TxUnsynced(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES (9)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if full.wal.syncs != before {
		t.Error("TxUnsynced synced")
	}
	if err := full.Sync(); err != nil || full.wal.syncs != before+1 {
		t.Errorf("Sync: %v, %d fsyncs", err, full.wal.syncs-before)
	}

	normal, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "normal.db")+"?synchronous=normal")
	if err != nil {
		t.Fatal(err)
	}
	defer normal.Close()
	if normal.wal != nil {
		t.Error("?synchronous=normal must not fsync after commit")
	}
	if err := normal.Sync(); err != nil {
		t.Error(err)
	}
}

// The syncer follows the WAL file if SQLite replaces it, and syncs the
// database file when there is no WAL.
func TestWALSyncerFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "f.db")
	if err := os.WriteFile(db, []byte("db"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newWALSyncer(db)
	var synced []string
	s.fsync = func(f *os.File) error {
		synced = append(synced, filepath.Base(f.Name()))
		return nil
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+"-wal", []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	first := s.f
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+"-wal", []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if s.f == first {
		t.Error("the syncer kept the replaced WAL file open")
	}
	st1, err1 := s.f.Stat()
	st2, err2 := os.Stat(db + "-wal")
	if err1 != nil || err2 != nil || !os.SameFile(st1, st2) {
		t.Errorf("the syncer does not hold the current WAL: %v %v", err1, err2)
	}
	want := []string{"f.db", "f.db-wal", "f.db-wal"}
	if len(synced) != len(want) {
		t.Fatalf("synced %v, want %v", synced, want)
	}
	for i := range want {
		if synced[i] != want[i] {
			t.Fatalf("synced %v, want %v", synced, want)
		}
	}
	s.close()
}
