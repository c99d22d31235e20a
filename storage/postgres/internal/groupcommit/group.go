// Package groupcommit stores items in groups for callers that each wait until
// their own item is committed: the group commit of the PostgreSQL backend's
// token and audit writes.
package groupcommit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Committer stores items in groups, for callers that each wait until
// their own item is committed. A caller that finds fewer than max flushes
// in flight runs its own at once, so an idle server adds no latency; one
// that finds them all busy queues, and the next free flush stores
// everything queued (up to maxBatch items) in one statement. Under load an
// item then costs a fraction of a statement and a transaction.
//
// The zero value is not usable; set Max, MaxBatch and Flush.
type Committer[T any] struct {
	Max      int // concurrent flushes
	MaxBatch int // items per flush
	// flush stores group and returns one error per item (nil for all
	// stored). It must not keep group.
	Flush func(ctx context.Context, group []T) []error

	// Linger, if set, bounds how long a flusher waits, under load, for
	// the queue to grow to the size of the flush before it (see next):
	// fewer, larger groups then commit, which saves a commit (a WAL flush
	// for a durable one) per item on a busy server.
	Linger time.Duration

	mu      sync.Mutex
	queue   []*pending[T]
	running int
	want    int           // a waiting flusher wants this many items queued
	filled  chan struct{} // closed when the queue has want items

	// BeforeFlush, if set, runs before each flush; tests use it to hold
	// a flush and let a queue build up.
	BeforeFlush func()
}

type pending[T any] struct {
	item T
	done chan error
	// deadline is the caller's (zero: none): past it, nobody waits for
	// the item.
	deadline time.Time
}

// flushTimeout bounds one group statement. It does not come from a
// caller's context: the group holds other callers' items too. A group
// whose callers all have deadlines is given up at the last of them: a
// statement nobody waits for any more must not commit later (each of
// those callers answered an error).
const flushTimeout = 10 * time.Second

// Do stores item and returns when its group is committed (or failed), or
// when ctx is done. The item is then not stored later, unless its
// statement started just before ctx's deadline and only the answer was
// late (see DeadlineGuard).
func (c *Committer[T]) Do(ctx context.Context, item T) error {
	p := &pending[T]{item: item, done: make(chan error, 1)}
	p.deadline, _ = ctx.Deadline()
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if c.want > 0 && len(c.queue) >= c.want {
		close(c.filled)
		c.want, c.filled = 0, nil
	}
	lead := c.running < c.Max
	var group []*pending[T]
	if lead {
		c.running++
		group = c.take()
	}
	c.mu.Unlock()
	if lead {
		c.run(group)
		c.next(len(group))
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		select {
		case err := <-p.done: // answered at the same moment: the truth
			return err
		default:
		}
		return ctx.Err()
	}
}

// take removes up to maxBatch queued items; c.mu must be held.
func (c *Committer[T]) take() []*pending[T] {
	n := min(len(c.queue), c.MaxBatch)
	group := c.queue[:n:n]
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	return group
}

// next hands what queued during a flush of flushed items to a new
// flusher, so the caller that led the flush can answer its own request
// now. Under load, when fewer items queued than the flush carried, the
// new flusher first waits (up to linger) until as many have queued.
func (c *Committer[T]) next(flushed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.running--
		return
	}
	var group []*pending[T]
	var filled chan struct{}
	if c.Linger > 0 && len(c.queue) < min(flushed, c.MaxBatch) && c.want == 0 {
		c.want, filled = min(flushed, c.MaxBatch), make(chan struct{})
		c.filled = filled
	} else {
		group = c.take()
	}
	go func() {
		if filled != nil {
			t := time.NewTimer(c.Linger)
			select {
			case <-filled:
			case <-t.C:
			}
			t.Stop()
			c.mu.Lock()
			c.want, c.filled = 0, nil
			group = c.take()
			c.mu.Unlock()
		}
		c.run(group)
		c.next(len(group))
	}()
}

// run flushes group and answers each of its callers. An item whose
// caller's deadline has passed is not stored (its caller has answered an
// error); the rest are stored only if the statement starts before the
// earliest of their deadlines (see DeadlineGuard), and the flush gives up
// then too.
func (c *Committer[T]) run(group []*pending[T]) {
	if c.BeforeFlush != nil {
		c.BeforeFlush()
	}
	now := time.Now()
	first := now.Add(flushTimeout)
	items := make([]T, 0, len(group))
	live := group[:0:0]
	for _, p := range group {
		if !p.deadline.IsZero() && !p.deadline.After(now) {
			p.done <- fmt.Errorf("postgres: %w", ErrLate)
			continue
		}
		items = append(items, p.item)
		live = append(live, p)
		if !p.deadline.IsZero() && p.deadline.Before(first) {
			first = p.deadline
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), first)
	defer cancel()
	errs := c.Flush(ctx, items)
	for i, p := range live {
		p.done <- errs[i]
	}
}

// ErrLate is the error of an item that reached the database after its
// caller's deadline, and was not stored.
var ErrLate = fmt.Errorf("not stored: the deadline passed before the statement ran: %w", context.DeadlineExceeded)

// DeadlineGuard is the last moment, by the database's clock, at which a
// statement of a flush with context ctx may still store anything:
// statements guarded by it (a condition on now(), the start of their
// transaction) store nothing when they start later. So a statement
// written into a network cut and delivered after it, long after its
// callers were answered an error, stores nothing. The grace allows for
// clocks a little apart.
func DeadlineGuard(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(flushTimeout)
	}
	return d.Add(guardGrace)
}

// guardGrace is how far the database's clock may run ahead of ours before
// a guarded statement refuses in time: NTP keeps clocks within
// milliseconds.
const guardGrace = 250 * time.Millisecond

// Queued is how many items wait for a flush.
func (c *Committer[T]) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// SameError returns n copies of err, the answer of a group that failed or
// succeeded as a whole.
func SameError(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}
