package web

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"policydesk/auth"
)

// Metrics is a small Prometheus registry written by hand: request counts
// by route and status, a latency histogram by route, gauges that others
// register, and a few facts about the process. The text format is
// https://prometheus.io/docs/instrumenting/exposition_formats/.
type Metrics struct {
	start   time.Time
	mu      sync.Mutex
	counts  map[routeStatus]*atomic.Uint64
	latency map[string]*histogram
	gauges  []gauge
}

type routeStatus struct {
	route  string
	status int
}

// latencyBuckets are the histogram's upper bounds, in seconds.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	buckets []atomic.Uint64 // cumulative counts are computed at scrape time
	count   atomic.Uint64
	sumNS   atomic.Int64
}

// Sample is one value of a labelled gauge.
type Sample struct {
	Labels map[string]string
	Value  float64
}

type gauge struct {
	name, help string
	fn         func() []Sample
}

// NewMetrics returns an empty registry.
func NewMetrics() *Metrics {
	return &Metrics{start: time.Now(), counts: map[routeStatus]*atomic.Uint64{}, latency: map[string]*histogram{}}
}

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// RegisterGauge adds a gauge whose value fn computes at each scrape. It
// panics on an invalid or duplicate name (a programming error).
func (m *Metrics) RegisterGauge(name, help string, fn func() float64) {
	m.RegisterGauges(name, help, func() []Sample { return []Sample{{Value: fn()}} })
}

// RegisterGauges adds a gauge with labels, e.g. a pool's balance per pool
// and year; fn returns every labelled value at each scrape.
func (m *Metrics) RegisterGauges(name, help string, fn func() []Sample) {
	if !metricName.MatchString(name) {
		panic("web: invalid metric name " + strconv.Quote(name))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range m.gauges {
		if g.name == name {
			panic("web: metric registered twice: " + name)
		}
	}
	m.gauges = append(m.gauges, gauge{name: name, help: help, fn: fn})
}

func (m *Metrics) observe(route string, status int, d time.Duration) {
	m.mu.Lock()
	c := m.counts[routeStatus{route, status}]
	if c == nil {
		c = new(atomic.Uint64)
		m.counts[routeStatus{route, status}] = c
	}
	h := m.latency[route]
	if h == nil {
		h = &histogram{buckets: make([]atomic.Uint64, len(latencyBuckets))}
		m.latency[route] = h
	}
	m.mu.Unlock()
	c.Add(1)
	secs := d.Seconds()
	if i, _ := slices.BinarySearch(latencyBuckets, secs); i < len(latencyBuckets) {
		h.buckets[i].Add(1)
	}
	h.count.Add(1)
	h.sumNS.Add(int64(d))
}

// WriteTo writes every metric in the Prometheus text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriter(w)
	m.mu.Lock()
	counts := make([]routeStatus, 0, len(m.counts))
	for k := range m.counts {
		counts = append(counts, k)
	}
	routes := make([]string, 0, len(m.latency))
	for k := range m.latency {
		routes = append(routes, k)
	}
	gauges := slices.Clone(m.gauges)
	m.mu.Unlock()
	slices.SortFunc(counts, func(a, b routeStatus) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		return a.status - b.status
	})
	slices.Sort(routes)

	fmt.Fprintln(bw, "# HELP policydesk_http_requests_total HTTP requests answered, by route pattern and status.")
	fmt.Fprintln(bw, "# TYPE policydesk_http_requests_total counter")
	for _, k := range counts {
		m.mu.Lock()
		v := m.counts[k].Load()
		m.mu.Unlock()
		fmt.Fprintf(bw, "policydesk_http_requests_total{route=%s,status=\"%d\"} %d\n", quote(k.route), k.status, v)
	}
	fmt.Fprintln(bw, "# HELP policydesk_http_request_duration_seconds Time to answer HTTP requests, by route pattern.")
	fmt.Fprintln(bw, "# TYPE policydesk_http_request_duration_seconds histogram")
	for _, r := range routes {
		m.mu.Lock()
		h := m.latency[r]
		m.mu.Unlock()
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.buckets[i].Load()
			fmt.Fprintf(bw, "policydesk_http_request_duration_seconds_bucket{route=%s,le=\"%s\"} %d\n", quote(r), formatFloat(le), cum)
		}
		n := h.count.Load()
		fmt.Fprintf(bw, "policydesk_http_request_duration_seconds_bucket{route=%s,le=\"+Inf\"} %d\n", quote(r), n)
		fmt.Fprintf(bw, "policydesk_http_request_duration_seconds_sum{route=%s} %s\n", quote(r), formatFloat(float64(h.sumNS.Load())/1e9))
		fmt.Fprintf(bw, "policydesk_http_request_duration_seconds_count{route=%s} %d\n", quote(r), n)
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	builtin := []struct {
		name, help, typ string
		v               float64
	}{
		{"process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.", "gauge", float64(m.start.UnixNano()) / 1e9},
		{"go_goroutines", "Number of goroutines.", "gauge", float64(runtime.NumGoroutine())},
		{"go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", "gauge", float64(ms.HeapAlloc)},
		{"go_memstats_sys_bytes", "Bytes obtained from the OS.", "gauge", float64(ms.Sys)},
	}
	for _, b := range builtin {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", b.name, b.help, b.name, b.typ, b.name, formatFloat(b.v))
	}
	for _, g := range gauges {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s gauge\n", g.name, escapeHelp(g.help), g.name)
		for _, smp := range safeSamples(g.fn) {
			fmt.Fprintf(bw, "%s%s %s\n", g.name, labels(smp.Labels), formatFloat(smp.Value))
		}
	}
	return 0, bw.Flush()
}

// safeSamples keeps a panicking gauge from taking /metrics down.
func safeSamples(fn func() []Sample) (out []Sample) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	return fn()
}

func labels(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		if metricName.MatchString(k) && !strings.Contains(k, ":") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + quote(l[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, err := s.metrics.WriteTo(w)
	return err
}
