// Package audit writes entries of the audit trail for every part of the
// server: it fills in what an entry leaves out (time, request ID,
// outcome), waits until the store has the entry durably, times it and logs
// a failure. It also names the actors of entries.
package audit

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// Actors of audit entries.
const (
	Admin     = "admin"
	System    = "system"
	Anonymous = "anonymous"
)

// Client is the actor of a client.
func Client(id string) string { return "client:" + id }

// User is the actor of a person, by opaque ID.
func User(id string) string { return "user:" + id }

// MaxField bounds caller-supplied text (a claimed client ID) in an entry.
const MaxField = 128

// Time is the form of times in entry details.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Appender is the store the writer appends to.
type Appender interface {
	AppendAudit(ctx context.Context, e ...storage.AuditEntry) error
}

// Config configures a Writer.
type Config struct {
	// Store keeps the trail. Required unless Disabled.
	Store Appender
	// Disabled turns the trail off: Append does nothing.
	Disabled bool
	// Now is the clock of entry times; time.Now if nil.
	Now func() time.Time
	// Log receives failures; zap.NewNop if nil.
	Log *zap.Logger
	// Observe, if set, is told how long each append took.
	Observe func(time.Duration)
	// Tracer, if set, traces each append.
	Tracer trace.Tracer
	// ReadDelay, if positive, lets AppendRead answer before its entry is
	// stored: read entries are handed to the store in groups within this
	// delay (see reads.go). Zero makes AppendRead wait like Append.
	ReadDelay time.Duration
	// ReadQueue bounds the read entries waiting to be stored;
	// DefaultReadQueue if zero.
	ReadQueue int
	// OnReadWait, if set, is told each time a read waits for room in a
	// full queue.
	OnReadWait func()
}

// Writer appends audit entries. Build it with New; it is safe for
// concurrent use.
type Writer struct {
	cfg   Config
	reads *reads // nil unless ReadDelay is set
}

// New returns a writer with cfg.
func New(cfg Config) *Writer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	w := &Writer{cfg: cfg}
	if cfg.ReadDelay > 0 && !cfg.Disabled {
		w.reads = newReads(w)
	}
	return w
}

// AppendRead appends e, the entry of a read (nothing changed), to the
// trail: with ReadDelay set it returns once e is queued, and the entry is
// stored within ReadDelay (a kill of the process loses at most that
// window); otherwise it is Append. An error means e was not queued (the
// queue stayed full until ctx was done, or the writer is closed); the
// caller must then not report success.
func (w *Writer) AppendRead(ctx context.Context, e storage.AuditEntry) error {
	if w.reads == nil {
		return w.Append(ctx, e)
	}
	e = w.Complete(ctx, e)
	err := w.reads.add(ctx, e)
	if err != nil {
		w.cfg.Log.Error("read audit entry not queued", zap.String("request_id", e.RequestID), zap.String("type", e.Type), zap.Error(err))
	}
	return err
}

// Close stores the read entries still queued and stops taking more; the
// process may exit once it returns. It does nothing without ReadDelay.
func (w *Writer) Close() {
	if w.reads != nil {
		w.reads.close()
	}
}

// Enabled reports whether entries are written.
func (w *Writer) Enabled() bool { return !w.cfg.Disabled }

// Append appends e to the trail and returns once it is durable, so that a
// caller answers only requests whose entry survives a crash. It fills in
// what e leaves out (Complete). With the trail disabled it does nothing. A
// failure is logged here; the caller must then not report success.
func (w *Writer) Append(ctx context.Context, e storage.AuditEntry) error {
	if w.cfg.Disabled {
		return nil
	}
	e = w.Complete(ctx, e)
	if w.cfg.Tracer != nil {
		var span trace.Span
		ctx, span = w.cfg.Tracer.Start(ctx, "audit.append")
		defer span.End()
	}
	return w.Observe(e, func() error { return w.cfg.Store.AppendAudit(ctx, e) })
}

// Complete fills in what e leaves out: the time, the request ID of ctx and
// outcome "ok"; it bounds the claimed client ID.
func (w *Writer) Complete(ctx context.Context, e storage.AuditEntry) storage.AuditEntry {
	if e.Time.IsZero() {
		e.Time = w.cfg.Now().UTC()
	}
	if e.RequestID == "" {
		e.RequestID = web.RequestID(ctx)
	}
	if e.Outcome == "" {
		e.Outcome = "ok"
	}
	e.ClientID = web.Truncate(e.ClientID, MaxField)
	return e
}

// Observe runs store, which appends the completed entry e (alone or with
// other writes), timing it and logging its failure.
func (w *Writer) Observe(e storage.AuditEntry, store func() error) error {
	start := time.Now()
	err := store()
	if w.cfg.Observe != nil {
		w.cfg.Observe(time.Since(start))
	}
	if err != nil {
		w.cfg.Log.Error("audit entry not written", zap.String("request_id", e.RequestID), zap.String("type", e.Type), zap.Error(err))
	}
	return err
}
