package reliability

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"policydesk/compute"
	"policydesk/desk"
	"policydesk/uscc"
	"policydesk/web/deskapi"
)

// Operations of the deadline workload, as Stats names them.
const (
	OpLogin   = "login"
	OpCreate  = "create"  // POST /applications (a draft)
	OpUpload  = "upload"  // POST /applications/{id}/materials
	OpCommit  = "commit"  // POST /applications/{id}/commitment
	OpSubmit  = "submit"  // POST /applications/{id}/submit with Idempotency-Key
	OpStatus  = "status"  // GET /applications/{id}
	OpQueue   = "queue"   // GET /applications?state=… (a reviewer's queue)
	OpAccept  = "accept"  // 形式审查通过
	OpReturn  = "return"  // 退回补正
	OpPropose = "propose" // department opinion: the ledger reserves the award
	OpSettle  = "settle"  // a provider's metering export: POST /compute/settlements/import
)

// Ops lists the operations in report order.
var Ops = []string{OpLogin, OpCreate, OpUpload, OpCommit, OpSubmit, OpStatus, OpQueue, OpAccept, OpReturn, OpPropose, OpSettle}

// Intended refusals: answers the workflow gives on purpose under load (a
// reviewer raced another for an application, a pool or cap ran dry).
// Anything else that is not 2xx is an error.
var Intended = []string{"conflict", "insufficient_funds", "exceeds_cap"}

// Item is an item the workload applies for, with facts that make it
// eligible and the materials it needs.
type Item struct {
	ID        string
	Facts     map[string]any
	Materials []string
}

// DefaultItems are two items without expert review, so that a reviewer's
// opinion proposes them and the ledger reserves their awards.
var DefaultItems = []Item{
	{ID: "genai_filing", Facts: map[string]any{"filing_date": "2025-03-01"}, Materials: []string{"filing_notice"}},
	{ID: "high_tech", Facts: map[string]any{"date": "2025-03-01"}, Materials: []string{"certificate"}},
}

// Departments of DefaultItems' reviewers.
var Departments = []string{"info_tech", "sci_tech"}

// Enterprise is an enterprise user of the workload.
type Enterprise struct{ Login, USCC string }

// Reviewer is a department reviewer of the workload.
type Reviewer struct{ Login, Department string }

// Provider is a compute provider user of the workload and the contracts
// its customers signed with it (SetupProviders fills them in).
type Provider struct {
	Login, USCC string
	Contracts   []string
}

// ProviderCode is the USCC of the workload's provider i.
func ProviderCode(i int) string { return uscc.Complete(fmt.Sprintf("91110302MC%07d", i)) }

// EnterpriseCode is the USCC of the workload's enterprise i.
func EnterpriseCode(i int) string { return uscc.Complete(fmt.Sprintf("91110302MB%07d", i)) }

// Workload drives the deadline's mixed load over HTTP: enterprises create,
// upload, sign and submit; reviewers work their queues, accepting (and
// proposing, which reserves money in the ledger) or returning.
type Workload struct {
	Base        string
	Password    string // every user's
	Enterprises []Enterprise
	Reviewers   []Reviewer
	Providers   []Provider
	SettleRows  int // rows per metering export a provider uploads; 200 by default
	Items       []Item
	Think       time.Duration // mean pause between an enterprise's steps
	ReturnPct   int           // share of applications reviewers return for 补正
	Timeout     time.Duration // per request
	Transport   http.RoundTripper
	Stats       *Stats
	Acks        *Acks
	// Stop, when set, is called on a request that got no answer (the
	// server is gone); the crash test uses it to end the phase.
	Stop func()
}

// PDF is a minimal document the upload check accepts.
var PDF = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

func (w *Workload) client() *Client {
	if w.Timeout <= 0 {
		w.Timeout = 30 * time.Second
	}
	return NewClient(w.Base, w.Transport, w.Timeout)
}

// call runs one request and records it. A request without an answer
// returns errGone after calling Stop.
func (w *Workload) call(ctx context.Context, op string, fn func() (Resp, error)) (Resp, error) {
	t := time.Now()
	r, err := fn()
	if err != nil && ctx.Err() != nil {
		// The run ended while the request was in flight: no answer to
		// count, but how long it had waited is.
		w.Stats.cutOff(time.Since(t))
		return r, errGone
	}
	w.Stats.Add(op, time.Since(t), r, err)
	if err != nil {
		if w.Stop != nil {
			w.Stop()
		}
		return r, errGone
	}
	return r, nil
}

var errGone = errors.New("no answer")

// RoundRange is the round the workload opens: from yesterday to two
// months on, in Beijing time.
func RoundRange(now time.Time) (string, string) {
	bj := now.In(time.FixedZone("CST", 8*3600))
	return bj.AddDate(0, 0, -1).Format("2006-01-02"), bj.AddDate(0, 2, 0).Format("2006-01-02")
}

// Prepare opens a round for the items (as admin) and registers every
// enterprise (Register). It is not timed.
func (w *Workload) Prepare(ctx context.Context, admin string, conc int) error {
	if err := w.OpenRound(ctx, admin); err != nil {
		return err
	}
	return w.Register(ctx, w.Enterprises, conc)
}

// OpenRound opens a round for the items, signed in as admin.
func (w *Workload) OpenRound(ctx context.Context, admin string) error {
	if len(w.Items) == 0 {
		w.Items = DefaultItems
	}
	a := w.client()
	if err := a.Login(ctx, admin, w.Password); err != nil {
		return err
	}
	var items []string
	for _, it := range w.Items {
		items = append(items, it.ID)
	}
	opens, closes := RoundRange(time.Now())
	r, err := a.JSON(ctx, "POST", "/api/v1/rounds", deskapi.RoundRequest{Name: "申报截止前一小时", Items: items, Opens: opens, Closes: closes})
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("open round: %w", r.Err())
	}
	return nil
}

// Register registers each enterprise with clean facts and a bank account,
// each signed in as itself, with up to conc at once.
func (w *Workload) Register(ctx context.Context, ents []Enterprise, conc int) error {
	sem := make(chan struct{}, max(conc, 1))
	errc := make(chan error, len(ents))
	var wg sync.WaitGroup
	for _, e := range ents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errc <- w.register(ctx, e)
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *Workload) register(ctx context.Context, e Enterprise) error {
	c := w.client()
	if err := c.Login(ctx, e.Login, w.Password); err != nil {
		return err
	}
	steps := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/enterprises", deskapi.EnterpriseRequest{USCC: e.USCC, Name: "亦庄测试企业" + e.USCC[10:17]}},
		{"PUT", "/api/v1/enterprises/" + e.USCC + "/bank-account", deskapi.BankAccountRequest{BankName: "北京银行亦庄支行", BankAccount: "2000" + e.USCC[10:17] + "0001"}},
		{"POST", "/api/v1/enterprises/" + e.USCC + "/facts", map[string]any{"source": "self_declared", "as_of": "2025-01-01",
			"facts": map[string]any{"in_etown": true, "serious_dishonesty_listed": false, "penalties": []any{}, "ai_enterprise": true}}},
	}
	for _, s := range steps {
		r, err := c.JSON(ctx, s.method, s.path, s.body)
		if err != nil {
			return err
		}
		if !r.OK() && !(s.method == "POST" && s.path == "/api/v1/enterprises" && r.Code() == "conflict") {
			return fmt.Errorf("%s %s as %s: %w", s.method, s.path, e.Login, r.Err())
		}
	}
	return nil
}

// NewKey returns a fresh idempotency key.
func NewKey() string {
	var b [12]byte
	crand.Read(b[:])
	return "k-" + hex.EncodeToString(b[:])
}

// pause sleeps about d (uniform in [d/2, 3d/2]) or until ctx ends.
func pause(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		d = d/2 + rand.N(d+1)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
		}
	}
	return ctx.Err() == nil
}

// RunEnterprise signs in as e and applies for each item: create, upload
// the materials, sign the commitment, submit (with an idempotency key),
// look at the status. It stops when ctx ends or the server is gone.
func (w *Workload) RunEnterprise(ctx context.Context, e Enterprise) {
	if len(w.Items) == 0 {
		w.Items = DefaultItems
	}
	c := w.client()
	r, err := w.call(ctx, OpLogin, func() (Resp, error) {
		return c.JSON(ctx, "POST", "/api/v1/session", map[string]string{"login": e.Login, "password": w.Password})
	})
	if err != nil || !r.OK() {
		return
	}
	for _, it := range w.Items {
		if !pause(ctx, w.Think) {
			return
		}
		facts := map[string]any{}
		for k, v := range it.Facts {
			facts[k] = v
		}
		r, err := w.call(ctx, OpCreate, func() (Resp, error) {
			return c.JSON(ctx, "POST", "/api/v1/applications", map[string]any{"item": it.ID, "facts": facts})
		})
		if err != nil || !r.OK() {
			continue
		}
		var app desk.Application
		if r.Decode(&app) != nil {
			continue
		}
		w.Acks.add(Ack{Op: OpCreate, App: app.ID, State: app.State})
		base := "/api/v1/applications/" + app.ID
		ok := true
		for _, m := range it.Materials {
			if !pause(ctx, w.Think) {
				return
			}
			doc := append(append([]byte{}, PDF...), (app.ID + m)...)
			r, err := w.call(ctx, OpUpload, func() (Resp, error) { return c.Upload(ctx, base+"/materials", m, m+".pdf", doc) })
			if err != nil {
				return
			}
			var mat desk.Material
			if ok = r.OK() && r.Decode(&mat) == nil; !ok {
				break
			}
			w.Acks.add(Ack{Op: OpUpload, App: app.ID, Material: mat.ID})
		}
		if !ok || !pause(ctx, w.Think) {
			continue
		}
		if r, err := w.call(ctx, OpCommit, func() (Resp, error) { return c.JSON(ctx, "POST", base+"/commitment", nil) }); err != nil {
			return
		} else if !r.OK() {
			continue
		}
		w.Acks.add(Ack{Op: OpCommit, App: app.ID})
		if !pause(ctx, w.Think) {
			return
		}
		key := NewKey()
		w.Acks.sending(key, app.ID, e)
		r, err = w.call(ctx, OpSubmit, func() (Resp, error) { return c.JSON(ctx, "POST", base+"/submit", nil, "Idempotency-Key", key) })
		if err != nil {
			return // in flight: the crash test retries it with the same key
		}
		w.Acks.answered(key)
		if r.OK() && r.Decode(&app) == nil {
			w.Acks.add(Ack{Op: OpSubmit, App: app.ID, Key: key, State: app.State, Version: app.Version, Body: string(r.Body)})
		}
		if !pause(ctx, w.Think) {
			return
		}
		if _, err := w.call(ctx, OpStatus, func() (Resp, error) { return c.JSON(ctx, "GET", base, nil) }); err != nil {
			return
		}
	}
}

// RunReviewer signs in as rv and works the department's queue until ctx
// ends: applications submitted are accepted (or, ReturnPct of them,
// returned for 补正); accepted ones are proposed. Reviewer idx of n of a
// department takes the applications whose id hashes to idx, so that
// reviewers do not race each other for the same one.
func (w *Workload) RunReviewer(ctx context.Context, rv Reviewer, idx, n int) {
	c := w.client()
	r, err := w.call(ctx, OpLogin, func() (Resp, error) {
		return c.JSON(ctx, "POST", "/api/v1/session", map[string]string{"login": rv.Login, "password": w.Password})
	})
	if err != nil || !r.OK() {
		return
	}
	mine := func(id string) bool {
		h := fnv.New32a()
		h.Write([]byte(id))
		return int(h.Sum32()%uint32(max(n, 1))) == idx
	}
	for ctx.Err() == nil {
		worked := 0
		for _, state := range []string{desk.StateAccepted, desk.StateSubmitted} {
			r, err := w.call(ctx, OpQueue, func() (Resp, error) {
				return c.JSON(ctx, "GET", "/api/v1/applications?limit=100&state="+state, nil)
			})
			if err != nil {
				return
			}
			var apps []desk.Application
			if !r.OK() || r.Decode(&apps) != nil {
				continue
			}
			for _, app := range apps {
				if ctx.Err() != nil || !mine(app.ID) {
					continue
				}
				worked++
				base := "/api/v1/applications/" + app.ID
				op, path, body := OpAccept, base+"/accept", any(deskapi.MessageRequest{Message: "材料齐全"})
				switch {
				case app.State == desk.StateAccepted:
					op, path, body = OpPropose, base+"/opinion", deskapi.MessageRequest{Message: "同意支持"}
				case rand.N(100) < w.ReturnPct:
					op, path, body = OpReturn, base+"/return", deskapi.MessageRequest{Message: "请补充材料"}
				}
				r, err := w.call(ctx, op, func() (Resp, error) { return c.JSON(ctx, "POST", path, body) })
				if err != nil {
					return
				}
				var got desk.Application
				if r.OK() && r.Decode(&got) == nil {
					w.Acks.add(Ack{Op: op, App: got.ID, State: got.State, Version: got.Version})
				}
			}
		}
		if worked == 0 && !pause(ctx, 50*time.Millisecond) {
			return
		}
	}
}

// SetupProviders registers each provider (as itself) and puts it on the
// whitelist (as admin), then has perProvider enterprises each sign a
// compute contract with it, taken in turn from ents (registered already).
// It is not timed.
func (w *Workload) SetupProviders(ctx context.Context, admin string, ents []Enterprise, perProvider int) error {
	a := w.client()
	if err := a.Login(ctx, admin, w.Password); err != nil {
		return err
	}
	next := 0
	for i := range w.Providers {
		p := &w.Providers[i]
		c := w.client()
		if err := c.Login(ctx, p.Login, w.Password); err != nil {
			return err
		}
		var got struct {
			ID string `json:"id"`
		}
		r, err := c.JSON(ctx, "POST", "/api/v1/compute/providers", map[string]any{"uscc": p.USCC, "name": "亦庄算力服务商" + p.USCC[10:17], "kinds": []string{"compute"}})
		if err != nil {
			return err
		}
		if !r.OK() || r.Decode(&got) != nil {
			return fmt.Errorf("register provider %s: %w", p.Login, r.Err())
		}
		if r, err = a.JSON(ctx, "POST", "/api/v1/compute/providers/"+got.ID+"/approve", map[string]any{"note": "材料齐全"}); err != nil {
			return err
		} else if !r.OK() {
			return fmt.Errorf("approve provider %s: %w", p.Login, r.Err())
		}
		for k := 0; k < perProvider && next < len(ents); k++ {
			e := ents[next]
			next++
			ec := w.client()
			if err := ec.Login(ctx, e.Login, w.Password); err != nil {
				return err
			}
			r, err := ec.JSON(ctx, "POST", "/api/v1/compute/contracts", map[string]any{"provider": p.USCC, "kind": "compute", "number": "HT-" + e.USCC[10:17],
				"title": "智算服务合同", "amount": "1000000.00", "starts": "2025-01-01", "ends": "2025-12-31", "signed_on": "2024-12-20"})
			if err != nil {
				return err
			}
			if !r.OK() || r.Decode(&got) != nil {
				return fmt.Errorf("contract of %s with %s: %w", e.Login, p.Login, r.Err())
			}
			p.Contracts = append(p.Contracts, got.ID)
		}
	}
	return nil
}

// settleSeq numbers the metering exports, so that every file (and its
// invoice numbers) is new.
var settleSeq atomic.Uint64

// RunProvider signs in as p and, until ctx ends, uploads a metering
// export of SettleRows rows for its contracts about every Think × 5.
func (w *Workload) RunProvider(ctx context.Context, p Provider) {
	if len(p.Contracts) == 0 {
		return
	}
	rows := w.SettleRows
	if rows <= 0 {
		rows = 200
	}
	c := w.client()
	r, err := w.call(ctx, OpLogin, func() (Resp, error) {
		return c.JSON(ctx, "POST", "/api/v1/session", map[string]string{"login": p.Login, "password": w.Password})
	})
	if err != nil || !r.OK() {
		return
	}
	for pause(ctx, 5*w.Think) {
		n := settleSeq.Add(1)
		var file bytes.Buffer
		if _, err := compute.GenerateSettlements(&file, compute.GenOptions{Rows: rows, Contracts: p.Contracts, From: "2025-01-01", To: "2025-12-31",
			Seed: n, InvoicePrefix: fmt.Sprintf("INV%s%06d", p.USCC[10:17], n), MaxAmount: 100_00}); err != nil {
			return
		}
		data := file.Bytes()
		r, err := w.call(ctx, OpSettle, func() (Resp, error) {
			return c.Upload(ctx, "/api/v1/compute/settlements/import", "", fmt.Sprintf("metering-%d.csv", n), data)
		})
		if err != nil {
			return
		}
		var res compute.ImportResult
		if r.OK() && r.Decode(&res) == nil {
			w.Acks.add(Ack{Op: OpSettle, Import: res.ID, Imported: res.Imported})
		}
	}
}

// Ack is a request that got a success answer, what it made durable.
type Ack struct {
	Op       string
	App      string
	Key      string // submit: its idempotency key
	State    string // the application's state in the answer
	Version  int
	Material string // upload: the material's id
	Import   string // settle: the import's id
	Imported int    // settle: the rows it stored
	Body     string // submit: the answer, for comparing a replay
}

// Pending is a submit sent without an answer yet (or ever: the server
// was killed), to be retried with the same key.
type Pending struct {
	Key, App   string
	Enterprise Enterprise
}

// Acks collects the workload's acknowledged requests.
type Acks struct {
	mu       sync.Mutex
	list     []Ack
	inflight map[string]Pending
}

// NewAcks returns an empty collection.
func NewAcks() *Acks { return &Acks{inflight: map[string]Pending{}} }

func (a *Acks) add(k Ack) {
	a.mu.Lock()
	a.list = append(a.list, k)
	a.mu.Unlock()
}

// Add records an ack made outside the workload (a retried submit).
func (a *Acks) Add(k Ack) { a.add(k) }

func (a *Acks) sending(key, app string, e Enterprise) {
	a.mu.Lock()
	a.inflight[key] = Pending{Key: key, App: app, Enterprise: e}
	a.mu.Unlock()
}

func (a *Acks) answered(key string) {
	a.mu.Lock()
	delete(a.inflight, key)
	a.mu.Unlock()
}

// List returns the acks so far.
func (a *Acks) List() []Ack {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.list)
}

// InFlight returns (and forgets) the submits that got no answer.
func (a *Acks) InFlight() []Pending {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Pending
	for _, p := range a.inflight {
		out = append(out, p)
	}
	a.inflight = map[string]Pending{}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Stats are latencies per operation and answers by status and code.
type Stats struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	codes  map[string]int // "op status code"
	cut    int
	cutMax time.Duration
}

// CutOff is the number of requests still in flight when the run ended,
// and the longest any of them had waited.
func (s *Stats) CutOff() (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut, s.cutMax
}

func (s *Stats) cutOff(d time.Duration) {
	s.mu.Lock()
	s.cut++
	s.cutMax = max(s.cutMax, d)
	s.mu.Unlock()
}

// NewStats returns empty statistics.
func NewStats() *Stats { return &Stats{lat: map[string][]time.Duration{}, codes: map[string]int{}} }

// Add records one request: its latency and, unless it succeeded, its
// status and code ("no_answer" when it got none).
func (s *Stats) Add(op string, d time.Duration, r Resp, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat[op] = append(s.lat[op], d)
	switch {
	case err != nil:
		s.codes[op+" - no_answer"]++
	case !r.OK():
		code := r.Code()
		if code == "" {
			code = "(none)"
		}
		s.codes[fmt.Sprintf("%s %d %s", op, r.Status, code)]++
	}
}

// OpStats summarises one operation.
type OpStats struct {
	Op            string
	N             int
	P50, P99, Max time.Duration
}

// Summary returns the operations seen, in Ops order.
func (s *Stats) Summary() []OpStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []OpStats
	for _, op := range Ops {
		ds := slices.Clone(s.lat[op])
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
		out = append(out, OpStats{Op: op, N: len(ds), P50: q(0.50), P99: q(0.99), Max: ds[len(ds)-1]})
	}
	return out
}

// Total is the number of requests recorded.
func (s *Stats) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ds := range s.lat {
		n += len(ds)
	}
	return n
}

// Codes returns the failed answers by "op status code", and how many of
// them were not intended refusals.
func (s *Stats) Codes() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	bad := 0
	for k, n := range s.codes {
		out[k] = n
		f := strings.Fields(k)
		if !slices.Contains(Intended, f[len(f)-1]) {
			bad += n
		}
	}
	return out, bad
}
