package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// bodyHash is the SHA-256 of a transfer request's body: everything the
// client said except the id and the Linked flag (which describes the
// request, not the entry). Fields are length-prefixed so that no two
// bodies encode alike.
func bodyHash(t *Transfer) []byte {
	h := sha256.New()
	var buf [8]byte
	str := func(s string) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	num := func(n int64) {
		binary.BigEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	str("transfer/v1")
	str(t.DebitAccount)
	str(t.CreditAccount)
	num(t.Amount)
	str(t.PendingID)
	num(int64(t.Flags &^ Linked))
	num(unixNano(t.ExpiresAt))
	num(int64(t.Code))
	str(t.UserData)
	return h.Sum(nil)
}

// addOK returns a+b and whether it fits in int64; amounts are never
// negative here, so only the upper end can overflow.
func addOK(a, b int64) (int64, bool) {
	if b > 0 && a > math.MaxInt64-b {
		return 0, false
	}
	if b < 0 && a < math.MinInt64-b {
		return 0, false
	}
	return a + b, true
}

// maxKeyLen bounds account keys and transfer ids: long enough for
// "grant/<id>/pay/cap/<cap key>", short enough to index well.
const maxKeyLen = 512

// validKey reports whether s is usable as an account key or transfer id:
// non-empty, at most maxKeyLen bytes, valid UTF-8 without control
// characters (they would make reports and logs ambiguous).
func validKey(s string) bool {
	if s == "" || len(s) > maxKeyLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
