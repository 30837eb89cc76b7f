package store

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// walSyncer makes SQLite commits durable by group fsync, outside the write
// lock.
//
// With synchronous=FULL, SQLite fsyncs the WAL inside every COMMIT, while
// it holds the database's only write lock: the next writer waits for the
// disk. policydesk instead runs the writer with synchronous=NORMAL (COMMIT
// writes its WAL frames to the OS and returns; SQLite still syncs the WAL
// before each checkpoint and the database file after it, so the file is
// never corrupt) and then, before the commit is reported to anyone, waits
// for an fdatasync of the WAL that began after the commit. One fsync
// covers every commit made before it started, and the next transaction
// writes while it runs. The guarantee is FULL's: a transaction is
// acknowledged only once its commit frame is on disk. A later commit never
// survives a power loss without an earlier one, because SQLite replays the
// WAL only up to the first frame whose running checksum fails.
//
// A failed fsync is final (the kernel may have dropped the dirty pages, and
// a second fsync would report success over lost data): every later Sync
// fails too, and so does every later write transaction, until the process
// is restarted and SQLite recovers the file.
type walSyncer struct {
	path  string                 // the WAL file: <database>-wal
	fsync func(f *os.File) error // fdatasync; tests replace it

	mu      sync.Mutex
	cond    *sync.Cond
	want    uint64 // the last ticket handed out
	done    uint64 // every ticket ≤ done is durable
	running bool   // a leader is syncing
	failed  error  // sticky
	f       *os.File
	syncs   uint64 // fsyncs made, for tests and stats
}

func newWALSyncer(dbPath string) *walSyncer {
	s := &walSyncer{path: dbPath + "-wal", fsync: fdatasync}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// errNotDurable wraps the fsync failure every write reports afterwards.
var errNotDurable = errors.New("store: the database file could not be synced to disk; restart the process")

// Sync returns once every commit made before the call is on disk. Callers
// that arrive while an fsync runs wait for the next one, which one of them
// makes for all (group commit).
func (s *walSyncer) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want++
	ticket := s.want
	for s.done < ticket && s.failed == nil {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		target, fsync := s.want, s.fsync
		s.mu.Unlock()
		err := s.syncFile(fsync)
		s.mu.Lock()
		s.running = false
		s.syncs++
		if err != nil {
			s.failed = fmt.Errorf("%w: %v", errNotDurable, err)
		} else {
			s.done = target
		}
		s.cond.Broadcast()
	}
	if s.done >= ticket {
		return nil
	}
	return s.failed
}

// check reports the sticky failure, if any: write transactions refuse to
// begin after one.
func (s *walSyncer) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// syncFile fdatasyncs the WAL. Only the leader calls it, so s.f needs no
// lock. The file is reopened if SQLite replaced it (it deletes the WAL
// when its last connection closes, after checkpointing everything into the
// database file, which it syncs first). No WAL at all means nothing is
// waiting in one; the database file is synced instead, which is cheap
// when clean.
func (s *walSyncer) syncFile(fsync func(*os.File) error) error {
	st, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return syncPath(s.path[:len(s.path)-len("-wal")], fsync)
	case err != nil:
		return err
	}
	if s.f != nil {
		if cur, err := s.f.Stat(); err != nil || !os.SameFile(cur, st) {
			s.f.Close()
			s.f = nil
		}
	}
	if s.f == nil {
		if s.f, err = os.OpenFile(s.path, os.O_RDWR, 0); err != nil {
			return err
		}
	}
	return fsync(s.f)
}

func syncPath(path string, fsync func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return fsync(f)
}

func (s *walSyncer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.running {
		s.cond.Wait()
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// Sync makes every write committed so far durable: on SQLite with the
// default synchronous=FULL it waits for a group fsync of the WAL (see
// walSyncer); elsewhere commits are durable when they return, and Sync
// returns nil at once. Tx and Exec call it themselves; only TxUnsynced
// leaves it to the caller.
func (db *DB) Sync() error {
	if db.wal == nil {
		return nil
	}
	return db.wal.Sync()
}

// SimulateFsyncFailure makes the next fsync fail with err, as a disk that
// lost a write would (and so, every write after it): for tests of what
// callers do then. On a database without group fsync it does nothing and
// reports false.
func (db *DB) SimulateFsyncFailure(err error) bool {
	if db.wal == nil {
		return false
	}
	db.wal.mu.Lock()
	defer db.wal.mu.Unlock()
	db.wal.fsync = func(*os.File) error { return err }
	return true
}
