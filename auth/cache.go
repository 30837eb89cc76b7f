package auth

import (
	"sync"
	"time"
)

// sessionCache keeps recently looked-up sessions in memory for a few
// seconds, so that a page view does not read the database only to learn
// who is asking. It never outlives what it would have read:
//
//   - An entry is used for at most TTL after it was read; then Lookup reads
//     the database again.
//   - Logout, LogoutEverywhere, SetDisabled and SetPassword of this process
//     drop the entries concerned once their change is committed, so they
//     take effect at once here. Another instance's logout or disabling
//     takes effect here within TTL.
//   - A read that began before such a change does not put its (old) answer
//     in the cache: every change bumps a generation, and a read stores its
//     answer only if the generation is still the one it started with.
//   - An entry that says the session has expired, or must be touched
//     (last_seen older than TouchEvery), is not used: Lookup goes to the
//     database, which ends or touches the session.
type sessionCache struct {
	ttl time.Duration
	max int

	mu     sync.Mutex
	gen    uint64 // bumped by every invalidation
	byHash map[string]*cachedSession
	// holds are users whose sessions are not cached until the time given:
	// a change made in a caller's transaction, whose commit auth does not
	// see.
	holds map[string]time.Time
}

type cachedSession struct {
	p       Principal
	created time.Time
	seen    time.Time // last_seen as stored
	abs     time.Time // expires_at as stored
	read    time.Time // when the database said so (monotonic clock)
}

func newSessionCache(ttl time.Duration, max int) *sessionCache {
	if ttl <= 0 {
		return nil
	}
	return &sessionCache{ttl: ttl, max: max, byHash: map[string]*cachedSession{}, holds: map[string]time.Time{}}
}

// get returns the entry for hash when it is fresh.
func (c *sessionCache) get(hash string) (cachedSession, bool) {
	if c == nil {
		return cachedSession{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byHash[hash]
	if e == nil {
		return cachedSession{}, false
	}
	if time.Since(e.read) >= c.ttl {
		delete(c.byHash, hash)
		return cachedSession{}, false
	}
	return *e, true
}

// generation returns the current generation, to pass to put.
func (c *sessionCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores what a read that began at generation gen found, unless an
// invalidation happened since or the user is held.
func (c *sessionCache) put(hash string, gen uint64, e cachedSession) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if until, ok := c.holds[e.p.UserID]; ok {
		if time.Now().Before(until) {
			return
		}
		delete(c.holds, e.p.UserID)
	}
	if len(c.byHash) >= c.max {
		c.sweepLocked()
		if len(c.byHash) >= c.max {
			clear(c.byHash) // a flood of sessions: start again
		}
	}
	c.byHash[hash] = &e
}

// sweepLocked drops stale entries.
func (c *sessionCache) sweepLocked() {
	for h, e := range c.byHash {
		if time.Since(e.read) >= c.ttl {
			delete(c.byHash, h)
		}
	}
}

// touched records that this process wrote last_seen.
func (c *sessionCache) touched(hash string, seen time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byHash[hash]; e != nil {
		e.seen = seen
	}
}

// dropSession forgets one session.
func (c *sessionCache) dropSession(hash string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.byHash, hash)
}

// dropUser forgets every session of userID; with hold > 0 it also keeps
// them out of the cache for that long.
func (c *sessionCache) dropUser(userID string, hold time.Duration) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h, e := range c.byHash {
		if e.p.UserID == userID {
			delete(c.byHash, h)
		}
	}
	if hold > 0 {
		c.holds[userID] = time.Now().Add(hold)
	}
}

// len is how many sessions are cached (tests).
func (c *sessionCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byHash)
}
