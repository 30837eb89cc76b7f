package compute_test

import (
	"encoding/json"
	"math"
	"testing"

	"policydesk/compute"
)

// TestCardHoursJSON: card-hours travel as decimal text and come back the
// same, whatever the value; a malformed text is refused.
func TestCardHoursJSON(t *testing.T) {
	for _, v := range []compute.CardHours{0, 1, 999, 1000, 12_500, 1_234_567_891, -1, -1500, math.MaxInt64, math.MinInt64} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var got compute.CardHours
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%d → %s: %v", int64(v), b, err)
		}
		if got != v {
			t.Fatalf("%d → %s → %d", int64(v), b, int64(got))
		}
		// Inside a struct too, as the statistics carry them.
		u := compute.ProviderUse{Name: "x", Listed: v, Settled: v}
		b, _ = json.Marshal(u)
		var back compute.ProviderUse
		if err := json.Unmarshal(b, &back); err != nil || back != u {
			t.Fatalf("%s → %+v %v", b, back, err)
		}
	}
	if b, _ := json.Marshal(compute.CardHours(12_500)); string(b) != `"12.500"` {
		t.Fatalf("12.5 card-hours as %s", b)
	}
	for in, want := range map[string]compute.CardHours{`"12.5"`: 12_500, `"7"`: 7000, `3.25`: 3250, `"0.001"`: 1, `null`: 0} {
		var got compute.CardHours
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != want {
			t.Fatalf("%s → %d %v, want %d", in, int64(got), err, int64(want))
		}
	}
	for _, bad := range []string{`""`, `"1.2345"`, `"abc"`, `"1."`, `".5"`, `"1e3"`, `"9223372036854775.808"`, `"-9223372036854775.809"`, `true`, `"1,000"`} {
		var got compute.CardHours
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Fatalf("%s accepted as %d", bad, int64(got))
		}
	}
}
