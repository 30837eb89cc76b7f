// Command loadgen measures the latency of policydesk pages under load: it
// signs in as a user, then keeps C connections busy for a duration, either
// closed-loop (each connection sends its next request as soon as the last
// answer arrives: the server's capacity) or open-loop at a fixed rate
// (requests are scheduled at -rate per second whatever the answers do, and
// latency counts from the scheduled time, so a stall is not hidden: what a
// person clicking at that rate would see).
//
//	go run ./web/portal/loadgen -url http://127.0.0.1:8080 -login reviewer -password demo-reviewer-2024 -path /review -c 200 -d 15s
//	go run ./web/portal/loadgen … -rate 1000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "the server")
	login := flag.String("login", "", "sign in as (empty: a visitor)")
	password := flag.String("password", "", "the password")
	paths := flag.String("path", "/review", "page(s) to request, comma-separated, taken in turn")
	conns := flag.Int("c", 200, "concurrent connections")
	dur := flag.Duration("d", 15*time.Second, "duration")
	rate := flag.Float64("rate", 0, "requests per second, open loop (0: closed loop)")
	warm := flag.Duration("warmup", 2*time.Second, "run this long first, unmeasured")
	cookie := flag.String("cookie", "", "send this Cookie header (e.g. pd_session=…) instead of signing in")
	flag.Parse()
	if err := run(*base, *login, *password, *cookie, strings.Split(*paths, ","), *conns, *dur, *warm, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(base, login, password, cookie string, paths []string, conns int, dur, warm time.Duration, rate float64) error {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if login != "" {
		body, _ := json.Marshal(map[string]string{"login": login, "password": password})
		res, err := client.Post(base+"/api/v1/session", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("sign in as %s: %s", login, res.Status)
		}
	}
	var next atomic.Int64
	get := func(ctx context.Context) (int, error) {
		p := paths[int(next.Add(1))%len(paths)]
		req, _ := http.NewRequestWithContext(ctx, "GET", base+p, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, err
	}
	if warm > 0 {
		measure(get, conns, warm, rate)
	}
	r := measure(get, conns, dur, rate)
	mode := "closed loop"
	if rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f/s", rate)
	}
	fmt.Printf("%s  %d connections, %s, %s\n", strings.Join(paths, ","), conns, dur, mode)
	r.print(dur)
	return nil
}

type result struct {
	lat    []time.Duration
	errs   int
	status map[int]int
}

func measure(get func(context.Context) (int, error), conns int, dur time.Duration, rate float64) result {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var mu sync.Mutex
	r := result{status: map[int]int{}}
	record := func(d time.Duration, code int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.errs++
			}
			return
		}
		r.lat = append(r.lat, d)
		r.status[code]++
	}
	var wg sync.WaitGroup
	if rate <= 0 {
		for range conns {
			wg.Go(func() {
				for ctx.Err() == nil {
					t := time.Now()
					code, err := get(ctx)
					record(time.Since(t), code, err)
				}
			})
		}
		wg.Wait()
		return r
	}
	// Open loop: a schedule of send times; each worker takes the next one,
	// waits for it, and measures from it.
	sched := make(chan time.Time, conns)
	go func() {
		defer close(sched)
		start := time.Now()
		interval := time.Duration(float64(time.Second) / rate)
		for i := 0; ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if at.Sub(start) >= dur {
				return
			}
			select {
			case sched <- at:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range conns {
		wg.Go(func() {
			for at := range sched {
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				code, err := get(ctx)
				record(time.Since(at), code, err)
			}
		})
	}
	wg.Wait()
	return r
}

func (r result) print(dur time.Duration) {
	slices.Sort(r.lat)
	q := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("  requests %d (%.0f/s), errors %d, status %v\n", len(r.lat), float64(len(r.lat))/dur.Seconds(), r.errs, r.status)
	fmt.Printf("  latency p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", ms(q(0.5)), ms(q(0.9)), ms(q(0.99)), ms(q(0.999)), ms(q(1)))
}
