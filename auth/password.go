package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams cost about 85 ms per hash on the project's 2-core machine
// (BenchmarkHashPassword; 64 MiB, 2 passes, 2 lanes): slow enough to make
// guessing expensive, fast enough for a login. The 64 MiB per hash are
// bounded by hashing at most GOMAXPROCS passwords at once.
var DefaultParams = Params{Memory: 64 * 1024, Time: 2, Threads: 2}

// TestParams are cheap, for tests only: a hash takes well under 1 ms.
var TestParams = Params{Memory: 64, Time: 1, Threads: 1}

var current atomic.Pointer[Params]

func init() { p := DefaultParams; current.Store(&p) }

// SetParams changes the parameters of new hashes and returns the previous
// ones. Tests call SetParams(TestParams) and restore afterwards; a server
// never needs to: existing hashes carry their own parameters.
func SetParams(p Params) Params {
	old := current.Swap(&p)
	return *old
}

const (
	saltLen = 16
	keyLen  = 32
)

// hashing bounds concurrent argon2 computations, so that a burst of logins
// queues instead of allocating 64 MiB each.
var (
	hashSemOnce sync.Once
	hashSem     chan struct{}
)

func acquire() func() {
	hashSemOnce.Do(func() { hashSem = make(chan struct{}, max(1, runtime.GOMAXPROCS(0))) })
	hashSem <- struct{}{}
	return func() { <-hashSem }
}

// HashPassword returns pw hashed with argon2id as a PHC string:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash> (unpadded standard base64).
func HashPassword(pw string) (string, error) {
	if len(pw) > maxPassword {
		return "", errors.New("auth: password too long")
	}
	p := *current.Load()
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	release := acquire()
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches the PHC string phc. The
// comparison is constant-time; a malformed phc never matches.
func CheckPassword(phc, pw string) bool {
	p, salt, key, err := parsePHC(phc)
	if err != nil || len(pw) > maxPassword {
		return false
	}
	release := acquire()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	release()
	return subtle.ConstantTimeCompare(got, key) == 1
}

// parsePHC reads $argon2id$v=19$m=…,t=…,p=…$salt$hash. Parameters far
// outside what HashPassword writes are refused, so that a tampered row
// cannot make a login allocate gigabytes.
func parsePHC(phc string) (Params, []byte, []byte, error) {
	bad := func(what string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, errors.New("auth: malformed password hash: " + what)
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version")
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + k)
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return bad("p")
			}
			p.Threads = uint8(n)
		default:
			return bad("parameter " + k)
		}
	}
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || p.Threads < 1 || p.Threads > 16 {
		return bad("parameters out of range")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return bad("salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return bad("hash")
	}
	return p, salt, key, nil
}
