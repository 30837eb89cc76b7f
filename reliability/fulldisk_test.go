package reliability_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"policydesk/auth"
	"policydesk/reliability"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestUploadOnFullDisk fills the database's storage while uploads arrive:
// SQLite's max_page_count makes every write past it fail with
// SQLITE_FULL, as a full disk does. The upload fails with an error answer
// that names a code and a request id, nothing of it remains (no material,
// no blob, no audit row), the ledger and the audit chain verify, and once
// there is room again the same upload succeeds. Uploads are stored in the
// database (desk_blobs), so a full database is the full upload storage.
func TestUploadOnFullDisk(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t, store.SQLite)
	env, err := reliability.NewEnv(ctx, db, reliability.EnvOptions{NoPortal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	ts := httptest.NewServer(env.Server.Handler())
	defer ts.Close()
	code := reliability.EnterpriseCode(7)
	for _, u := range []auth.User{{Login: "admin", Name: "a", Role: auth.RoleAdmin}, {Login: "ent", Name: "e", Role: auth.RoleEnterprise, Enterprise: code}} {
		if _, err := reliability.AddUser(ctx, env.Auth, u, password); err != nil {
			t.Fatal(err)
		}
	}
	w := &reliability.Workload{Base: ts.URL, Password: password, Enterprises: []reliability.Enterprise{{Login: "ent", USCC: code}}, Stats: reliability.NewStats(), Acks: reliability.NewAcks()}
	if err := w.Prepare(ctx, "admin", 1); err != nil {
		t.Fatal(err)
	}
	c := reliability.NewClient(ts.URL, nil, time.Minute)
	if err := c.Login(ctx, "ent", password); err != nil {
		t.Fatal(err)
	}
	r, err := c.JSON(ctx, "POST", "/api/v1/applications", map[string]any{"item": "genai_filing", "facts": map[string]any{"filing_date": "2025-03-01"}})
	if err != nil || !r.OK() {
		t.Fatalf("create: %v %v", err, r.Err())
	}
	var app struct{ ID string }
	r.Decode(&app)

	count := func() (n [3]int) {
		for i, q := range []string{`SELECT COUNT(*) FROM desk_materials`, `SELECT COUNT(*) FROM desk_blobs`, `SELECT COUNT(*) FROM audit_log`} {
			if err := db.QueryRow(ctx, q).Scan(&n[i]); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	var pages int
	if err := db.QueryRow(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer is one connection, so the pragma holds for every write.
	if _, err := db.Exec(ctx, `PRAGMA max_page_count = `+strconv.Itoa(pages+16)); err != nil {
		t.Fatal(err)
	}
	before := count()
	doc := append(append([]byte{}, reliability.PDF...), bytes.Repeat([]byte("x"), 2<<20)...)
	r, err = c.Upload(ctx, "/api/v1/applications/"+app.ID+"/materials", "filing_notice", "big.pdf", doc)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusInsufficientStorage || r.Code() == "" || requestID(r) == "" {
		t.Fatalf("upload on a full disk: %d %s, want 507 with a code and a request id", r.Status, r.Body)
	}
	t.Logf("upload on a full disk: %d %s (code %s)", r.Status, http5xx(r.Status), r.Code())
	if after := count(); after != before {
		t.Fatalf("a failed upload left rows behind: materials, blobs, audit %v → %v", before, after)
	}
	vr, err := reliability.Verify(ctx, db)
	if err != nil || vr.Err() != nil {
		t.Fatalf("verify after a full disk: %v %v", err, vr.Err())
	}
	if _, err := db.Exec(ctx, `PRAGMA max_page_count = 4294967294`); err != nil {
		t.Fatal(err)
	}
	r, err = c.Upload(ctx, "/api/v1/applications/"+app.ID+"/materials", "filing_notice", "big.pdf", doc)
	if err != nil || r.Status != 201 {
		t.Fatalf("upload once there is room: %v %d %s", err, r.Status, r.Body)
	}
	if after := count(); after[0] != before[0]+1 || after[1] != before[1]+1 || after[2] != before[2]+1 {
		t.Fatalf("upload once there is room: %v → %v", before, after)
	}
}

func http5xx(status int) string {
	if status >= 500 {
		return "(a server-side failure, reported with a request id)"
	}
	return ""
}
