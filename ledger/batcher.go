package ledger

import (
	"container/heap"
	"time"

	"policydesk/store"
)

// run is the batcher: the only goroutine that writes the ledger.
func (l *Ledger) run() {
	defer close(l.done)
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
				l.process(nil)
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
		l.process(batch)
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

// process applies one batch in one transaction and answers its callers.
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
		for _, s := range subs {
			s.err = internal(err)
		}
	} else {
		b.merge()
		l.committed.Add(int64(len(b.transfers)))
	}
	for _, s := range subs {
		close(s.done)
	}
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
