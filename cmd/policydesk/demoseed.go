package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"policydesk/apperr"
	"policydesk/auth"
)

// demoSeeding makes the demo data after the server listens, so that
// `serve --demo` is up in well under a second: the pages answer at once,
// and signing in is refused with 演示数据生成中 (and how far it is) until
// the data set is complete, which takes a few seconds. Progress goes to
// the terminal.
type demoSeeding struct {
	out io.Writer
	log *slog.Logger

	pct     atomic.Int32 // 0–100
	mu      sync.Mutex
	printed int // the last percentage printed
}

// progress is the seeder's callback.
func (d *demoSeeding) progress(done, total int) {
	if total <= 0 {
		return
	}
	p := int32(min(100, done*100/total))
	if p >= 100 {
		p = 99 // 100 only once the seeder has returned
	}
	d.pct.Store(p)
	d.mu.Lock()
	defer d.mu.Unlock()
	if int(p)/25 > d.printed/25 {
		d.printed = int(p)
		fmt.Fprintf(d.out, "  演示数据生成中 making demo data… %d%%\n", p)
	}
}

// gate refuses sign-ins until the data is ready.
func (d *demoSeeding) gate() error {
	p := d.pct.Load()
	if p >= 100 {
		return nil
	}
	return apperr.New(apperr.Unavailable,
		fmt.Sprintf("演示数据生成中（已完成 %d%%），请几秒钟后再登录", p),
		fmt.Sprintf("the demo data is being made (%d%% done); sign in again in a few seconds", p))
}

// run seeds, then opens sign-ins and says so.
func (d *demoSeeding) run(ctx context.Context, seed func(context.Context) error, users *auth.Store, url string) error {
	t := time.Now()
	fmt.Fprintln(d.out, "  演示数据生成中，完成前登录会提示稍候 making demo data; sign-ins wait until it is ready")
	if err := seed(ctx); err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(d.out, "演示数据生成失败 demo data failed: %v\n", err)
		}
		return err
	}
	d.pct.Store(100)
	users.SetLoginGate(nil)
	took := time.Since(t).Round(10 * time.Millisecond)
	d.log.Info("demo data seeded", "took", took.String())
	fmt.Fprintf(d.out, "演示数据已就绪 demo data ready (用时 %s) — 请登录 sign in at %slogin\n", took, url)
	return nil
}
