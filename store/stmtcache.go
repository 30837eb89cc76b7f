package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// stmtCache keeps SQLite statements prepared, one cache per pool.
//
// modernc.org/sqlite's driver prepares (parses and plans) every statement
// it is given, every time: under a round's deadline load that was 17 % of
// the server's CPU. pgx caches prepared statements itself, so PostgreSQL
// needs none of this.
//
// A statement enters the cache when it runs outside a transaction (the
// pool then has a connection to prepare it on), or after the transaction
// that first ran it has ended: inside a transaction the writer's only
// connection is held, and preparing on the pool would wait for ever. A
// cached statement used inside a transaction runs on the transaction's
// connection (sql.Tx.StmtContext), prepared there once.
type stmtCache struct {
	pool *sql.DB

	mu     sync.Mutex
	m      map[string]*sql.Stmt
	wanted map[string]bool // met inside transactions, to prepare after them
	closed bool
}

// maxCachedStmts bounds the cache: statements whose text varies (IN lists
// of each length) must not grow it without end. A full cache keeps what it
// has and prepares the rest each time, as without a cache.
const maxCachedStmts = 512

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// cacheable: one statement (the driver runs a script of several itself,
// statement by statement) of reasonable length. The ledger's multi-row
// writes of 256 rows are ≈ 10 KiB; they are the statements that gain most.
func cacheable(q string) bool {
	if len(q) > 64<<10 {
		return false
	}
	body := strings.TrimRight(strings.TrimSpace(q), "; \t\n")
	return !strings.Contains(body, ";")
}

// get returns q's cached statement, preparing it on the pool if it is
// absent and there is room. Call it only while holding no connection of
// the pool. nil: run q unprepared.
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if c == nil || !cacheable(q) {
		return nil
	}
	c.mu.Lock()
	s, ok := c.m[q]
	full := len(c.m) >= maxCachedStmts || c.closed
	c.mu.Unlock()
	if ok || full {
		return s
	}
	s, err := c.pool.PrepareContext(ctx, q)
	if err != nil {
		return nil // let the plain call report the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[q]; ok || c.closed {
		s.Close() // another caller prepared it meanwhile, or the DB closed
		return prev
	}
	c.m[q] = s
	return s
}

// inTx returns q's cached statement for use inside a transaction, or nil;
// a miss is remembered and prepared once the transaction has ended (fill).
func (c *stmtCache) inTx(q string) *sql.Stmt {
	if c == nil || !cacheable(q) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[q]
	if !ok && len(c.m)+len(c.wanted) < maxCachedStmts {
		c.wanted[q] = true
	}
	return s
}

// fill prepares the statements met inside transactions. Called after a
// transaction has ended, holding no connection.
func (c *stmtCache) fill(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	qs := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		qs = append(qs, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range qs {
		c.get(ctx, q)
	}
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for q, s := range c.m {
		s.Close()
		delete(c.m, q)
	}
}
