package ledger

import (
	"container/heap"
	"errors"
	"time"

	"policydesk/store"
)

// run is the batcher: it forms batches, validates and writes them, and it
// is the only goroutine that touches the cache. Its acker (ackLoop) makes
// committed batches durable and answers their callers while run goes on
// with the next batch.
func (l *Ledger) run() {
	defer close(l.done)
	ackDone := make(chan struct{})
	go l.ackLoop(ackDone)
	defer func() {
		close(l.acks)
		<-ackDone
	}()
	// A first, empty batch loads the ledger's state and voids whatever
	// expired while no process was running.
	l.process(nil)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(l.untilNextExpiry())
		var first *submission
		select {
		case <-l.quit:
			l.failQueued()
			return
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

// errStale says that the ledger changed under a batch validated outside
// the lock: another process wrote.
var errStale = errors.New("ledger: another process wrote; validating again")

// step validates a batch outside the database's write lock, then writes
// it in one short transaction.
//
// The batch is validated on top of the cache, which holds every batch this
// process has committed; what the cache lacks is read from the read pool,
// outside any lock, so validation never holds up other writers. It is
// correct only if nobody else wrote since, so the write transaction first
// checks, under the lock, that ledger_meta's version is the one the batch
// was validated on; if another process wrote, the batch is validated again
// under the lock (errStale, process).
//
// The same goroutine validates and writes: handing the batch to a
// committer goroutine, as an earlier version did to overlap the two, left
// the committer idle while the Go scheduler got round to the batcher among
// 64 runnable clients — a third of the time on two cores. Requests that
// arrive meanwhile simply form the next batch.
//
// Callers are answered by the acker only after their batch is durable.
// While the state is unknown (at start, after a failure), batches run the
// serial way, everything inside one locked transaction.
func (l *Ledger) step(subs []*submission) {
	if l.version < 0 {
		l.process(subs)
		return
	}
	b := newBatch(l, nil, unixNano(l.opts.Now()))
	b.q = l.db
	if err := b.apply(l.ctx, subs); err != nil {
		// Half read: drop the cache and validate again under the lock.
		l.version = -1
		l.process(subs)
		return
	}
	b.finish()
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
		b.merge()
		l.committed.Add(int64(len(b.transfers)))
		l.acks <- b
	case errors.Is(err, errStale):
		l.version = -1
		l.process(subs)
	default:
		// What the database holds is unknown until it is read again.
		l.version = -1
		answer(subs, internal(err))
	}
}

// ackLoop answers the callers of committed batches once they are durable:
// one store.Sync for every batch that has committed by then.
func (l *Ledger) ackLoop(done chan<- struct{}) {
	defer close(done)
	var ready []*batch
	for b := range l.acks {
		ready = append(ready[:0], b)
	more:
		for {
			select {
			case b, ok := <-l.acks:
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
