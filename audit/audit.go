// Package audit keeps policydesk's audit trail: one row for every change,
// written by Append in the same transaction as the change, so that a change
// and its record commit or roll back together.
//
// The trail is append-only (database triggers refuse UPDATE and DELETE) and
// hash-chained with SM3 (GB/T 32905), so that Verify detects a row that was
// edited, deleted, inserted or reordered by someone who bypassed the
// triggers. Row n carries
//
//	hash(n) = SM3(hash(n-1) || encode(row n)),   hash(0) = 32 zero bytes
//
// where encode is the canonical encoding below. The chain proves the rows
// are the ones appended, in that order, unless an attacker recomputed every
// hash from the tampered row to the end; against that, record a Checkpoint
// (the head's seq and hash) outside the database — print it, mail it, file
// it with the daily report — and hand it to Verify later.
//
// Canonical encoding, version 1 (all integers big-endian):
//
//	byte    1 (the version)
//	int64   seq
//	int64   at, Unix microseconds UTC
//	string  actor_id, actor_role, action, entity, entity_id, enterprise
//	json    before, after
//	string  request_id
//
// where string is a uint32 byte length then the UTF-8 bytes, and json is
// one byte 0 when absent, or one byte 1 then a string holding the compact
// JSON text. Every field is length-prefixed, so no two rows encode alike.
package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm3"

	"policydesk/apperr"
	"policydesk/store"
)

// Hash is an SM3 digest. It prints, and marshals to JSON, as lowercase hex.
type Hash [32]byte

// String returns h in lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText returns h in lowercase hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash reads 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("audit: hash %q: want %d hex digits", s, 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("audit: hash %q: %w", s, err)
	}
	return h, nil
}

// Entry is one change as its service saw it.
type Entry struct {
	// At is the service call's now. It is stored in UTC, truncated to
	// microseconds (what PostgreSQL keeps), and must not be zero.
	At time.Time `json:"at"`
	// ActorID and ActorRole say who made the change ("system" for the
	// scheduler).
	ActorID   string `json:"actor_id"`
	ActorRole string `json:"actor_role"`
	// Action is the change's code, entity.verb: application.submit,
	// batch.approve. Required.
	Action string `json:"action"`
	// Entity and EntityID name what changed: "application", "app_01H…".
	// Entity is required.
	Entity   string `json:"entity"`
	EntityID string `json:"entity_id"`
	// Enterprise is the 统一社会信用代码 of the enterprise the change
	// concerns, when there is one, so that an enterprise can be shown its
	// own trail.
	Enterprise string `json:"enterprise,omitempty"`
	// Before and After are the changed state as JSON, either absent. They
	// are stored compacted (insignificant white space removed, nothing
	// else changed), and that is what is hashed.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// RequestID ties the row to the request's log lines.
	RequestID string `json:"request_id,omitempty"`
}

// Row is an entry as stored: its place in the chain and its hashes.
type Row struct {
	Seq int64 `json:"seq"`
	Entry
	PrevHash Hash `json:"prev_hash"`
	Hash     Hash `json:"hash"`
}

// encodingVersion is the first byte of the canonical encoding.
const encodingVersion = 1

// Sum returns the hash row r must carry: SM3(r.PrevHash || encode(r)). It
// ignores r.Hash, so r.Sum() != r.Hash means the row was altered.
func (r Row) Sum() Hash {
	b := make([]byte, 0, 256+len(r.Before)+len(r.After))
	b = append(b, r.PrevHash[:]...)
	b = r.appendEncoding(b)
	return sm3.Sum(b)
}

// appendEncoding appends the canonical encoding of r (see the package
// documentation) to b.
func (r Row) appendEncoding(b []byte) []byte {
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(r.At.UnixMicro()))
	for _, s := range [...]string{r.ActorID, r.ActorRole, r.Action, r.Entity, r.EntityID, r.Enterprise} {
		b = appendString(b, s)
	}
	for _, j := range [...]json.RawMessage{r.Before, r.After} {
		if j == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = appendString(b, string(j))
	}
	return appendString(b, r.RequestID)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// maxField bounds one field so that its length fits the encoding's uint32
// with room to spare; an audit row anywhere near it is a bug.
const maxField = 1 << 30

// normalize checks e and returns it as it will be stored and hashed.
func normalize(e Entry) (Entry, error) {
	if e.At.IsZero() {
		return e, invalid("审计记录缺少时间", "audit entry has no time")
	}
	e.At = time.UnixMicro(e.At.UnixMicro()).UTC()
	if strings.TrimSpace(e.Action) == "" || strings.TrimSpace(e.Entity) == "" {
		return e, invalid("审计记录缺少操作或对象", "audit entry needs an action and an entity")
	}
	fields := []struct{ name, v string }{
		{"actor_id", e.ActorID}, {"actor_role", e.ActorRole}, {"action", e.Action},
		{"entity", e.Entity}, {"entity_id", e.EntityID}, {"enterprise", e.Enterprise},
		{"request_id", e.RequestID},
	}
	for _, f := range fields {
		if err := checkText(f.name, f.v); err != nil {
			return e, err
		}
	}
	var err error
	if e.Before, err = compact("before", e.Before); err != nil {
		return e, err
	}
	if e.After, err = compact("after", e.After); err != nil {
		return e, err
	}
	return e, nil
}

// checkText refuses what one of the two engines would not store as it is:
// PostgreSQL's TEXT takes neither NUL nor invalid UTF-8.
func checkText(name, s string) error {
	if len(s) > maxField || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return invalid("审计记录字段 "+name+" 不是有效文本", "audit entry field "+name+" is not valid UTF-8 text without NUL").WithField(name)
	}
	return nil
}

// compact returns j without insignificant white space, nil when j is empty.
func compact(name string, j json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(j)) == 0 {
		return nil, nil
	}
	if !json.Valid(j) {
		return nil, invalid("审计记录字段 "+name+" 不是有效 JSON", "audit entry field "+name+" is not valid JSON").WithField(name)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, j); err != nil {
		return nil, invalid("审计记录字段 "+name+" 不是有效 JSON", "audit entry field "+name+" is not valid JSON").WithField(name)
	}
	if err := checkText(name, buf.String()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func invalid(zh, en string) *apperr.Error { return apperr.New(apperr.Invalid, zh, en) }

// Append records e in tx, the transaction of the change it describes, as
// the next link of the chain, and returns the row with its seq and hashes.
//
// It locks the chain head until tx ends (on PostgreSQL SELECT … FOR UPDATE;
// on SQLite the single writer already holds the lock), so appends of
// concurrent transactions queue rather than fork the chain, and seq has no
// gaps: a transaction that rolls back takes its row and its head update
// with it. Every audited write in the system passes through this lock, so
// call Append late in the transaction — after the change's own writes —
// and keep such transactions short.
func Append(ctx context.Context, tx *store.Tx, e Entry) (Row, error) {
	e, err := normalize(e)
	if err != nil {
		return Row{}, err
	}
	q := `SELECT seq, hash FROM audit_head WHERE id = 1`
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	var seq int64
	var head []byte
	if err := tx.QueryRow(ctx, q).Scan(&seq, &head); err != nil {
		return Row{}, fmt.Errorf("audit: read the chain head (has migration 0002 run?): %w", err)
	}
	r := Row{Seq: seq + 1, Entry: e}
	if len(head) != len(r.PrevHash) {
		return Row{}, fmt.Errorf("audit: the chain head's hash has %d bytes, want %d", len(head), len(r.PrevHash))
	}
	copy(r.PrevHash[:], head)
	r.Hash = r.Sum()
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (seq, at_us, actor_id, actor_role, action, entity, entity_id, enterprise, before_json, after_json, request_id, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.At.UnixMicro(), r.ActorID, r.ActorRole, r.Action, r.Entity, r.EntityID, r.Enterprise,
		jsonArg(r.Before), jsonArg(r.After), r.RequestID, r.PrevHash[:], r.Hash[:]); err != nil {
		return Row{}, fmt.Errorf("audit: append row %d: %w", r.Seq, err)
	}
	// The row's insert trigger advances the head onto it (migration 0008).
	return r, nil
}

// jsonArg is the SQL argument for a JSON field: NULL when absent.
func jsonArg(j json.RawMessage) any {
	if j == nil {
		return nil
	}
	return string(j)
}

// rowColumns is the column list every read of audit_log uses, in scanRow's
// order.
const rowColumns = `seq, at_us, actor_id, actor_role, action, entity, entity_id, enterprise, before_json, after_json, request_id, prev_hash, hash`

type scanner interface{ Scan(dest ...any) error }

// scanRow reads one row selected with rowColumns. A hash of the wrong
// length is kept as far as it goes (Verify then reports the row) rather
// than failing the read.
func scanRow(s scanner) (Row, error) {
	var r Row
	var at int64
	var before, after *string
	var prev, hash []byte
	if err := s.Scan(&r.Seq, &at, &r.ActorID, &r.ActorRole, &r.Action, &r.Entity, &r.EntityID, &r.Enterprise,
		&before, &after, &r.RequestID, &prev, &hash); err != nil {
		return r, err
	}
	r.At = time.UnixMicro(at).UTC()
	if before != nil {
		r.Before = json.RawMessage(*before)
	}
	if after != nil {
		r.After = json.RawMessage(*after)
	}
	copy(r.PrevHash[:], prev)
	copy(r.Hash[:], hash)
	return r, nil
}

// Checkpoint is a point of the chain — a seq and the hash of its row —
// recorded outside the database, so that Verify can tell that the chain
// still passes through it. The Report of a successful Verify gives the
// current head as one.
type Checkpoint struct {
	Seq  int64 `json:"seq"`
	Hash Hash  `json:"hash"`
}

// String writes seq:hash, the form ParseCheckpoint reads.
func (c Checkpoint) String() string { return strconv.FormatInt(c.Seq, 10) + ":" + c.Hash.String() }

// ParseCheckpoint reads seq:hash (hash in hex), as Checkpoint.String
// writes it.
func ParseCheckpoint(s string) (Checkpoint, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	seq, err := strconv.ParseInt(a, 10, 64)
	if !ok || err != nil || seq < 1 {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint %q: want seq:hash, seq ≥ 1", s)
	}
	h, err := ParseHash(b)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint %q: %w", s, err)
	}
	return Checkpoint{Seq: seq, Hash: h}, nil
}

// errNoHead is returned by readers when the audit tables are missing.
var errNoHead = errors.New("audit: no chain head: has migration 0002 run?")

// Head returns the chain's newest link as audit_head records it (seq 0 and
// a zero hash before the first row), to be kept as a Checkpoint outside
// the database. It does not verify the chain: Verify does.
func Head(ctx context.Context, db *store.DB) (Checkpoint, error) {
	var c Checkpoint
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		var hash []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&c.Seq, &hash); err != nil {
			return fmt.Errorf("%w: %v", errNoHead, err)
		}
		copy(c.Hash[:], hash)
		return nil
	})
	return c, err
}
