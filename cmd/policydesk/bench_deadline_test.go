package main

import (
	"strings"
	"testing"

	"policydesk/store/storetest"
)

// TestBenchDeadline runs a small deadline bench on each engine: it must
// finish with every answer a success or an intended refusal, the ledger
// and the audit chain verified and every acknowledged submission stored
// exactly once.
func TestBenchDeadline(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		code, out, errs := runCmd("bench", "deadline", "--db", dsn, "--enterprises", "12", "--reviewers", "1", "--duration", "4s", "--think", "20ms", "--target", "1m", "--providers", "2", "--contracts", "3", "--settle-rows", "50")
		if code != 0 {
			t.Fatalf("bench deadline: %d\n%s\n%s", code, out, errs)
		}
		for _, want := range []string{"requests/s", "submit", "ledger verified", "audit chain intact", "each stored exactly once", "peak memory", "metering imports"} {
			if !strings.Contains(out, want) {
				t.Errorf("the report lacks %q:\n%s", want, out)
			}
		}
		if code, _, errs := runCmd("bench", "deadline", "--db", dsn, "--enterprises", "1", "--duration", "1s"); code != 1 || !strings.Contains(errs, "not empty") {
			t.Errorf("bench deadline on a database in use: %d %s", code, errs)
		}
	})
}
