// Package ledger is policydesk's double-entry ledger, built on the model of
// TigerBeetle: accounts carry posted and pending debits and credits and
// optional bounds; transfers are immutable entries — plain, pending
// (a reservation, optionally expiring), post pending (in full or in part)
// and void pending — and may be linked so that a set succeeds or fails as a
// whole. Every transfer has a client-chosen id that makes it idempotent.
//
// The policy's money is modelled on top (policy.go): a pool account per
// (pool, year) funded from a budget account, cap accounts funded with their
// limits, and a grant as one linked set that reserves from the pool and
// from every cap at once — so neither a pool nor a cap can be overspent,
// however many requests race.
//
// # Group commit
//
// All writes go through one goroutine, the batcher. Requests queue on a
// channel; the batcher takes whatever is waiting (up to Options.MaxBatch
// transfers), validates every transfer in memory against cached balances,
// and writes the survivors in one database transaction. Each request still
// succeeds or fails on its own, and its caller gets its own result, only
// after the transaction has committed and reached the disk. One
// transaction and one fsync carry every request that queued while the
// batch before was written — dozens with 64 clients, hundreds under
// heavier load — which is where the throughput comes from.
//
// The batcher validates a batch outside the write lock, reading what its
// cache lacks from the read pool, then writes it in a short transaction
// that first checks, under the lock, that the ledger's version is still
// the one it was validated on; otherwise the batch is validated again the
// serial way, inside one locked transaction — as every batch is while the
// state is unknown (at start, after a failure). The disk flush is not in
// the batcher's way: an acker goroutine runs one group fsync for every
// batch committed meanwhile (store.DB.Sync), then answers their callers,
// while the batcher writes the next batch.
//
// # Several processes
//
// The cache is only an accelerator; the database stays the arbiter. Every
// batch transaction starts by locking the ledger_meta row (SQLite: the
// transaction begins IMMEDIATE and holds the write lock; PostgreSQL:
// SELECT … FOR UPDATE) and reading its version, which every committed batch
// increments. If the version is not the one this process last wrote,
// another process has written, and the batcher drops its cache and reads
// the accounts it needs again inside the locked transaction. So several
// policydesk instances on one PostgreSQL cannot overspend; they only run
// slower, each batch reloading what the others changed. For throughput,
// keep the hot path of ledger writes in one instance.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"policydesk/store"
)

// Options tune the batcher. The zero value is sensible.
type Options struct {
	// MaxBatch caps the transfers (and accounts) applied in one database
	// transaction. Default 4096. Larger batches amortise the commit over
	// more work but make every caller in the batch wait for all of it.
	MaxBatch int
	// Linger is how long the batcher waits, after the first request of a
	// batch, for more to arrive. Default 0: no wait — requests that arrive
	// while a batch commits form the next batch, so batches grow with the
	// load by themselves and a lone request is not delayed.
	Linger time.Duration
	// QueueSize is the capacity of the request queue. Default 8192.
	QueueSize int
	// Now is the clock (for expiry and timestamps). Default time.Now.
	Now func() time.Time
}

// Ledger is a handle on the ledger in a database. It is safe for
// concurrent use; create one per process with New and Close it at exit.
type Ledger struct {
	db   *store.DB
	opts Options
	in   chan *submission

	ctx    context.Context // for the batcher's database work
	cancel context.CancelFunc
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once

	// owned by the batcher goroutine
	version  int64               // ledger_meta.version last seen; -1: unknown, reload
	seq      int64               // last transfer seq
	accounts map[string]*Account // cache of committed balances
	expiries expiryHeap          // open pending transfers with an expiry

	acks chan *batch // committed batches, for the acker to make durable and answer

	// capLimits remembers caps known to be funded (key → limit) so that
	// Reserve need not resend their funding transfer. A cap's limit never
	// changes, so the memo cannot go stale.
	capLimits sync.Map

	batches   atomic.Int64
	committed atomic.Int64
}

// Stats counts the batcher's work since New, for tuning.
type Stats struct {
	Batches   int64 // database transactions
	Transfers int64 // transfers written
}

// Stats returns the batcher's counters.
func (l *Ledger) Stats() Stats {
	return Stats{Batches: l.batches.Load(), Transfers: l.committed.Load()}
}

// New starts a ledger on db, which must be migrated. The batcher loads
// balances lazily and voids overdue pending transfers at once.
func New(ctx context.Context, db *store.DB, opts Options) (*Ledger, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 8192
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var v int64
	if err := db.QueryRow(ctx, `SELECT version FROM ledger_meta WHERE id = 1`).Scan(&v); err != nil {
		return nil, fmt.Errorf("ledger: the database has no ledger (run policydesk migrate): %w", err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	l := &Ledger{
		db: db, opts: opts,
		in:      make(chan *submission, opts.QueueSize),
		ctx:     bctx,
		cancel:  cancel,
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		version: -1,
		acks:    make(chan *batch, 64),
	}
	go l.run()
	return l, nil
}

// Close stops the batcher after the batch in progress; requests still
// queued fail with CodeInternal. It is safe to call more than once.
func (l *Ledger) Close() error {
	l.once.Do(func() {
		close(l.quit)
		<-l.done
		l.cancel()
	})
	return nil
}

// DB returns the database the ledger writes to.
func (l *Ledger) DB() *store.DB { return l.db }

// unit is what the batcher applies atomically: accounts to ensure, a chain
// of transfers, and for a grant the grant's record. Results are filled in
// by the batcher.
type unit struct {
	accounts  []Account
	transfers []Transfer

	accountResults  []Result
	transferResults []Result
	err             *Error // the first failure, nil on success
	expiry          bool   // made by the batcher to void an expired transfer
}

// submission is one caller's request: units that succeed or fail each on
// its own, answered together.
type submission struct {
	units []*unit
	size  int // accounts + transfers, for MaxBatch
	done  chan struct{}
	err   error // set when the whole batch failed: outcome unknown
}

var errClosed = errors.New("ledger: closed")

// submit queues units and waits for their results. An error means the
// outcome is unknown (the database failed, the ledger closed, or ctx ended
// while the batch was in flight): retry with the same ids.
func (l *Ledger) submit(ctx context.Context, units ...*unit) error {
	s := &submission{units: units, done: make(chan struct{})}
	for _, u := range units {
		s.size += len(u.accounts) + len(u.transfers)
	}
	select {
	case <-l.quit:
		return internal(errClosed)
	default:
	}
	select {
	case l.in <- s:
	case <-ctx.Done():
		return internal(ctx.Err())
	case <-l.quit:
		return internal(errClosed)
	}
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return internal(fmt.Errorf("%w (the request may still commit)", ctx.Err()))
	}
}

// CreateAccounts creates accounts, each on its own. An account whose key
// exists with the same code and flags is a replay; with others, a
// conflict. Balances in the input must be zero: only transfers move them.
// The error is for failures of the whole call (outcome unknown); refusals
// are in the results, one per account, in order.
func (l *Ledger) CreateAccounts(ctx context.Context, accounts []Account) ([]Result, error) {
	units := make([]*unit, len(accounts))
	for i, a := range accounts {
		units[i] = &unit{accounts: []Account{a}}
	}
	if err := l.submit(ctx, units...); err != nil {
		return nil, err
	}
	res := make([]Result, len(accounts))
	for i, u := range units {
		res[i] = u.accountResults[0]
	}
	return res, nil
}

// CreateTransfers applies transfers. Transfers flagged Linked form a chain
// with the ones after them, up to and including the first without the
// flag; a chain succeeds or fails as a whole (the failing transfer gets
// its code, the others CodeLinkedEventFailed). Inside a chain, a transfer
// whose id exists with the same body counts as done (its first result is
// returned) and does not fail the chain. The error is for failures of the
// whole call (outcome unknown); refusals are in the results, one per
// transfer, in order.
func (l *Ledger) CreateTransfers(ctx context.Context, transfers []Transfer) ([]Result, error) {
	var units []*unit
	start := 0
	for i := range transfers {
		if transfers[i].Flags&Linked != 0 && i < len(transfers)-1 {
			continue
		}
		units = append(units, &unit{transfers: transfers[start : i+1]})
		start = i + 1
	}
	if err := l.submit(ctx, units...); err != nil {
		return nil, err
	}
	res := make([]Result, 0, len(transfers))
	for _, u := range units {
		res = append(res, u.transferResults...)
	}
	return res, nil
}
