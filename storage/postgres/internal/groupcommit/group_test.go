package groupcommit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCommitterLinger: after a flush of two, a flusher that finds one
// item queued waits for a second rather than flushing it alone; after a
// flush of one it never waits.
func TestCommitterLinger(t *testing.T) {
	var mu sync.Mutex
	var groups [][]int
	c := &Committer[int]{Max: 1, MaxBatch: 10, Linger: time.Hour, Flush: func(_ context.Context, g []int) []error {
		mu.Lock()
		groups = append(groups, slices.Clone(g))
		mu.Unlock()
		return make([]error, len(g))
	}}
	hold := make(chan struct{})
	var flushes atomic.Int32
	c.BeforeFlush = func() {
		if flushes.Add(1) <= 2 {
			<-hold
		}
	}
	done := make(chan int, 5)
	do := func(i int) {
		go func() {
			if err := c.Do(context.Background(), i); err != nil {
				t.Error(err)
			}
			done <- i
		}()
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited 10s for %s", what)
			}
		}
	}
	waitQueued := func(n int) {
		t.Helper()
		waitUntil(fmt.Sprintf("%d items queued", n), func() bool { return c.Queued() == n })
	}
	do(1) // leads, held
	waitUntil("the first flush", func() bool { return flushes.Load() > 0 })
	do(2)
	waitQueued(1)
	do(3)
	waitQueued(2)
	hold <- struct{}{} // flushes [1]; [2 3] is taken at once and held
	waitQueued(0)
	do(4)
	waitQueued(1)
	hold <- struct{}{} // flushes [2 3]; [4] waits for a second item
	for range 3 {
		<-done
	}
	select {
	case i := <-done:
		t.Fatalf("item %d answered before a second item queued", i)
	case <-time.After(50 * time.Millisecond):
	}
	do(5)
	<-done
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := [][]int{{1}, {2, 3}, {4, 5}}
	if len(groups) != len(want) {
		t.Fatalf("groups %v, want %v", groups, want)
	}
	for i := range want {
		if !slices.Equal(groups[i], want[i]) {
			t.Fatalf("groups %v, want %v", groups, want)
		}
	}
}

// TestCommitterSkipsLateItems: an item whose caller's deadline has passed
// by the time its group flushes is not flushed (its caller was answered
// an error), and the flush's context ends at the earliest deadline of the
// items it carries.
func TestCommitterSkipsLateItems(t *testing.T) {
	var flushed [][]int
	var deadlines []time.Time
	c := &Committer[int]{Max: 1, MaxBatch: 10, Flush: func(ctx context.Context, g []int) []error {
		flushed = append(flushed, slices.Clone(g))
		d, _ := ctx.Deadline()
		deadlines = append(deadlines, d)
		return make([]error, len(g))
	}}
	late, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := c.Do(late, 1); err == nil {
		t.Fatal("do with a deadline passed = nil, want an error")
	}
	if len(flushed) != 0 {
		t.Fatalf("flushed %v, want nothing: the item's deadline had passed", flushed)
	}
	soon := time.Now().Add(time.Second) // before flushTimeout
	ctx, cancel2 := context.WithDeadline(context.Background(), soon)
	defer cancel2()
	if err := c.Do(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if len(flushed) != 1 || !deadlines[0].Equal(soon) {
		t.Fatalf("flushed %v with deadlines %v, want [[2]] with %v", flushed, deadlines, soon)
	}
}
