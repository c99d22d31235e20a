package audit

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/storage"
)

// Read entries (an introspection answered, a userinfo read) record that
// something was looked at; nothing the server holds changed. With
// Config.ReadDelay set, AppendRead queues such an entry and answers at
// once, and a background flusher appends the queue in groups, so that a
// read does not wait for a disk flush. What a crash can lose is bounded:
// an entry is handed to the store within ReadDelay of being queued (a kill
// of idvauth loses at most that window of read entries; a store that
// fails keeps them queued and retried, never dropped), and past
// ReadQueue queued entries a read waits for room (back-pressure) rather
// than growing the queue. State-changing events never take this path.

// DefaultReadQueue bounds the read entries queued when Config.ReadQueue is
// zero: at 20k reads a second, a twentieth of a second's worth.
const DefaultReadQueue = 1024

// readBatch bounds the entries of one flush: one store call.
const readBatch = 512

// readRetry is the longest pause between tries of a failing flush.
const readRetry = 2 * time.Second

// reads is the queue of read entries and its flusher.
type reads struct {
	w     *Writer
	delay time.Duration
	limit int

	mu      sync.Mutex
	queue   []storage.AuditEntry
	room    chan struct{} // closed (by flush only) when the queue shrinks; replaced then
	wake    chan struct{} // a flusher wakes on a send (capacity 1)
	closed  bool
	stopped chan struct{} // closed when the flusher has returned
	stop    chan struct{} // closed by Close
}

func newReads(w *Writer) *reads {
	r := &reads{w: w, delay: w.cfg.ReadDelay, limit: w.cfg.ReadQueue, room: make(chan struct{}),
		wake: make(chan struct{}, 1), stopped: make(chan struct{}), stop: make(chan struct{})}
	if r.limit <= 0 {
		r.limit = DefaultReadQueue
	}
	go r.run()
	return r
}

// errClosed is AppendRead's error after Close.
var errClosed = errors.New("audit: the trail is closed")

// add queues e, waiting for room while the queue is full (or until ctx is
// done: then e is not queued and the caller must not answer success).
func (r *reads) add(ctx context.Context, e storage.AuditEntry) error {
	waited := false
	r.mu.Lock()
	for len(r.queue) >= r.limit && !r.closed {
		room := r.room
		r.mu.Unlock()
		if !waited && r.w.cfg.OnReadWait != nil {
			r.w.cfg.OnReadWait()
		}
		waited = true
		select {
		case <-room:
		case <-r.stop:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.mu.Lock()
	}
	if r.closed {
		r.mu.Unlock()
		return errClosed
	}
	r.queue = append(r.queue, e)
	first := len(r.queue) == 1
	r.mu.Unlock()
	if first {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// run flushes the queue until Close, then flushes what is left.
func (r *reads) run() {
	defer close(r.stopped)
	// linger lets a group gather before a flush: a fifth of the delay,
	// so the last entry of a group is still stored well within it.
	linger := r.delay / 5
	for {
		select {
		case <-r.wake:
		case <-r.stop:
			r.drain()
			return
		}
		t := time.NewTimer(linger)
		select {
		case <-t.C:
		case <-r.stop:
		}
		t.Stop()
		for r.flush() {
		}
	}
}

// flush appends up to readBatch queued entries, retrying a failing store
// (the entries stay queued, so reads meet back-pressure meanwhile) until
// it succeeds or Close. It reports whether more are queued.
func (r *reads) flush() bool {
	r.mu.Lock()
	n := min(len(r.queue), readBatch)
	group := r.queue[:n:n]
	r.mu.Unlock()
	if n == 0 {
		return false
	}
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, readRetry) {
		if err := r.store(group); err == nil {
			break
		}
		select {
		case <-time.After(pause):
		case <-r.stop:
			return false // drain tries once more
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = r.queue[n:]
	if len(r.queue) == 0 {
		r.queue = nil
	}
	close(r.room)
	r.room = make(chan struct{})
	return len(r.queue) > 0
}

// store appends group in one call, bounded in time like a request's
// database work.
func (r *reads) store(group []storage.AuditEntry) error {
	ctx, cancel := context.WithTimeout(context.Background(), readRetry*5)
	defer cancel()
	start := time.Now()
	err := r.w.cfg.Store.AppendAudit(ctx, group...)
	if r.w.cfg.Observe != nil {
		r.w.cfg.Observe(time.Since(start))
	}
	if err != nil {
		r.w.cfg.Log.Error("queued read audit entries not written yet; kept for the next try", zap.Int("entries", len(group)), zap.Error(err))
	}
	return err
}

// drain stores what is queued at Close: one try per group, so that a
// store that is down does not hold up the process's exit for long.
func (r *reads) drain() {
	for {
		r.mu.Lock()
		n := min(len(r.queue), readBatch)
		group := r.queue[:n:n]
		r.queue = r.queue[n:]
		r.mu.Unlock()
		if n == 0 {
			return
		}
		if r.store(group) != nil {
			r.w.cfg.Log.Error("read audit entries lost at shutdown: the store did not take them", zap.Int("entries", n+r.queued()))
			return
		}
	}
}

func (r *reads) queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// close stops taking entries, flushes what is queued and returns when
// done.
func (r *reads) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.stopped
		return
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.stopped
}
