package ledger

import (
	"container/heap"
	"errors"
	"time"

	"policydesk/store"
)

// run is the batcher: it forms batches and validates them, and it is the
// only goroutine that touches the cache. Its committer (commitLoop) writes
// them; see step for how the two overlap.
func (l *Ledger) run() {
	defer close(l.done)
	go l.commitLoop()
	defer func() {
		close(l.toCommit)
		<-l.commitDone
	}()
	// A first, empty batch loads the ledger's state and voids whatever
	// expired while no process was running.
	l.process(nil)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(l.untilNextExpiry())
		var results chan error // the batch in flight's outcome, if one is
		if l.inflight != nil {
			results = l.results
		}
		var first *submission
		select {
		case <-l.quit:
			l.settle()
			l.failQueued()
			return
		case err := <-results:
			// Settled while idle: a batch that must run again (errStale)
			// must not wait for the next request.
			l.settleWith(err)
			continue
		case <-timer.C:
			if len(l.expiries) > 0 && l.expiries[0].at <= unixNano(l.opts.Now()) {
				l.step(nil)
			}
			continue
		case first = <-l.in:
		}
		batch := []*submission{first}
		n := first.size
	drain:
		for n < l.opts.MaxBatch {
			select {
			case s := <-l.in:
				batch = append(batch, s)
				n += s.size
			default:
				break drain
			}
		}
		if l.opts.Linger > 0 && n < l.opts.MaxBatch {
			linger := time.NewTimer(l.opts.Linger)
		wait:
			for n < l.opts.MaxBatch {
				select {
				case s := <-l.in:
					batch = append(batch, s)
					n += s.size
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		l.step(batch)
	}
}

// errStale says that the ledger changed under a pipelined batch: another
// process wrote since the batch was validated.
var errStale = errors.New("ledger: another process wrote; validating again")

// step validates a batch while the one before it commits, then hands it to
// the committer: a pipeline of two, so that validating (reads, checks,
// building statements) and committing (SQL, fsync) run side by side.
//
// The batch is validated on top of the cache, which already holds the
// effects of the batch in flight (merged as soon as validated), and of
// that batch's transfers (Ledger.inflight); what the cache lacks is read
// from the read pool, outside any lock. It is correct only if the batch in
// flight commits and nobody else writes before this one commits, so:
//   - it is handed over only once the batch in flight has committed; if
//     that one failed, this one is validated again from the database,
//     under the lock (process);
//   - the committer checks, under the lock, that ledger_meta's version is
//     the one the batch was validated on; if another process wrote, the
//     batch is validated again under the lock (errStale, settle).
//
// Callers are answered by the committer only after their batch committed.
// While the state is unknown (at start, after a failure), batches run the
// serial way, everything inside one locked transaction.
func (l *Ledger) step(subs []*submission) {
	if l.version < 0 {
		l.settle()
		l.process(subs)
		return
	}
	b := newBatch(l, nil, unixNano(l.opts.Now()))
	b.q, b.spec = l.db, true
	err := b.apply(l.ctx, subs)
	// Until the batch in flight commits, requests that arrive join this
	// batch, as they would join the next one of a serial batcher.
	n := 0
	for _, s := range subs {
		n += s.size
	}
	ok := true
	for err == nil && l.inflight != nil {
		var in chan *submission
		if n < l.opts.MaxBatch {
			in = l.in
		}
		select {
		case e := <-l.results:
			ok = l.settleWith(e)
		case s := <-in:
			// Take whatever else is queued too: one read for all.
			more := []*submission{s}
			n += s.size
		drain:
			for n < l.opts.MaxBatch {
				select {
				case s := <-l.in:
					more = append(more, s)
					n += s.size
				default:
					break drain
				}
			}
			var units []*unit
			for _, s := range more {
				units = append(units, s.units...)
			}
			b.subs = append(b.subs, more...)
			err = b.extend(l.ctx, units)
		}
	}
	if !ok || err != nil {
		// b rests on a batch that did not commit, or is half read: drop
		// the cache and validate it again under the lock.
		l.settle()
		l.version = -1
		l.process(b.subs)
		return
	}
	b.finish()
	b.merge()
	l.inflight = b
	l.toCommit <- b
}

// settle waits for the batch in flight. It reports whether it committed
// as validated; if not, the cache has been dropped, and a batch that lost
// to another process's write has been run again the serial way.
func (l *Ledger) settle() bool {
	if l.inflight == nil {
		return true
	}
	return l.settleWith(<-l.results)
}

// settleWith is settle with the outcome of the batch in flight received.
func (l *Ledger) settleWith(err error) bool {
	b := l.inflight
	l.inflight = nil
	if err == nil {
		return true
	}
	l.version = -1
	if errors.Is(err, errStale) {
		l.process(b.subs)
	}
	return false
}

// commitLoop is the committer: it writes each validated batch in one
// transaction, after checking under the ledger's lock that nobody wrote
// since it was validated. It does not wait for the commit to reach the
// disk: the batch goes to the acker, which answers its callers once a
// group fsync has made it durable, while this loop writes the next batch.
func (l *Ledger) commitLoop() {
	acks := make(chan *batch, 64)
	ackDone := make(chan struct{})
	go l.ackLoop(acks, ackDone)
	defer func() {
		close(acks)
		<-ackDone
		close(l.commitDone)
	}()
	for b := range l.toCommit {
		err := l.db.TxUnsynced(l.ctx, func(tx *store.Tx) error {
			version, _, err := readMeta(l.ctx, tx)
			if err != nil {
				return err
			}
			if version != b.base {
				return errStale
			}
			b.tx = tx
			return b.write(l.ctx)
		})
		b.tx = nil
		l.batches.Add(1)
		switch {
		case err == nil:
			l.committed.Add(int64(len(b.transfers)))
			acks <- b
		case errors.Is(err, errStale):
			// settle runs it again
		default:
			answer(b.subs, internal(err))
		}
		l.results <- err
	}
}

// ackLoop answers the callers of committed batches once they are durable:
// one store.Sync for every batch that has committed by then.
func (l *Ledger) ackLoop(acks <-chan *batch, done chan<- struct{}) {
	defer close(done)
	var ready []*batch
	for b := range acks {
		ready = append(ready[:0], b)
	more:
		for {
			select {
			case b, ok := <-acks:
				if !ok {
					break more
				}
				ready = append(ready, b)
			default:
				break more
			}
		}
		err := l.db.Sync()
		if err != nil {
			err = internal(err)
		}
		for _, b := range ready {
			answer(b.subs, err)
		}
	}
}

// answer releases the callers of a batch, with err if the batch failed.
func answer(subs []*submission, err error) {
	for _, s := range subs {
		if err != nil {
			s.err = err
		}
		close(s.done)
	}
}

// failQueued answers every request still queued at Close.
func (l *Ledger) failQueued() {
	for {
		select {
		case s := <-l.in:
			s.err = internal(errClosed)
			close(s.done)
		default:
			return
		}
	}
}

// untilNextExpiry is how long the batcher may sleep before a pending
// transfer expires. It wakes at least every second while any is pending,
// so that a clock that jumps (or a test's clock) is noticed.
func (l *Ledger) untilNextExpiry() time.Duration {
	if len(l.expiries) == 0 {
		return time.Hour
	}
	d := time.Duration(l.expiries[0].at - unixNano(l.opts.Now()))
	return min(max(d, time.Millisecond), time.Second)
}

// process applies one batch in one transaction and answers its callers:
// the serial path, reading under the lock.
// If the transaction fails, every caller gets CodeInternal and the cache
// is dropped: what the database holds is unknown until it is read again.
func (l *Ledger) process(subs []*submission) {
	now := unixNano(l.opts.Now())
	var b *batch
	err := l.db.Tx(l.ctx, func(tx *store.Tx) error {
		if b != nil {
			// store.Tx is running us again after a lost race: the
			// previous attempt rolled back, so its expiries are due still.
			b.giveBackExpiries()
		}
		b = newBatch(l, tx, now)
		return b.run(l.ctx, subs)
	})
	l.batches.Add(1)
	if err != nil {
		l.version = -1
		answer(subs, internal(err))
		return
	}
	b.merge()
	l.committed.Add(int64(len(b.transfers)))
	answer(subs, nil)
}

// expiry is an open pending transfer's deadline.
type expiry struct {
	at int64 // Unix ns
	id string
}

// expiryHeap orders deadlines, soonest first.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// dueExpiries pops the deadlines that have passed and returns a unit per
// pending transfer that voids it. A transfer already resolved fails its
// unit with already_resolved, which is ignored.
func (b *batch) dueExpiries(now int64, limit int) []*unit {
	l := b.l
	var units []*unit
	seen := map[string]bool{}
	for len(l.expiries) > 0 && l.expiries[0].at <= now && len(units) < limit {
		e := heap.Pop(&l.expiries).(expiry)
		b.popped = append(b.popped, e)
		if seen[e.id] {
			continue
		}
		seen[e.id] = true
		units = append(units, &unit{expiry: true, transfers: []Transfer{{
			ID:        ExpireID(e.id),
			PendingID: e.id,
			Flags:     VoidPending,
			Code:      TransferExpire,
		}}})
	}
	return units
}

// ExpireID is the id of the transfer by which the ledger voids the expired
// pending transfer pendingID.
func ExpireID(pendingID string) string { return "expire/" + pendingID }

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNano is the inverse of unixNano.
func fromNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// giveBackExpiries returns the deadlines a rolled-back batch popped.
func (b *batch) giveBackExpiries() {
	for _, e := range b.popped {
		heap.Push(&b.l.expiries, e)
	}
	b.popped = nil
}
