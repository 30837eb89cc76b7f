package desk

import (
	"context"
	"testing"
	"time"
)

// TestFIFOSlots: waiters get a slot in the order they came, and a waiter
// whose request ends gives up.
func TestFIFOSlots(t *testing.T) {
	s := fifoSlots(make(chan struct{}, 1))
	ctx := context.Background()
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 5)
	for i := range 5 {
		go func() {
			if err := s.acquire(ctx); err != nil {
				t.Error(err)
				return
			}
			order <- i
			s.release()
		}()
		time.Sleep(20 * time.Millisecond) // queue them one after the other
	}
	s.release()
	for want := range 5 {
		if got := <-order; got != want {
			t.Fatalf("slot %d went to waiter %d", want, got)
		}
	}
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := s.acquire(cctx); err == nil {
		t.Fatal("acquired a full gate")
	}
	s.release()
}

func TestParseDepartments(t *testing.T) {
	for in, want := range map[string]string{`["info_tech"]`: "info_tech", `["a","b_c"]`: "a|b_c", `[]`: "", ` [ "x" , "y" ] `: "x|y", `["q\"x"]`: `q"x`, `bad`: ""} {
		got := ""
		for i, d := range parseDepartments(in) {
			if i > 0 {
				got += "|"
			}
			got += d
		}
		if got != want {
			t.Errorf("parseDepartments(%s) = %q, want %q", in, got, want)
		}
	}
}
