package audit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage"
)

// heldStore keeps appended entries; while hold is open (non-nil and not
// closed) every append waits on it, and the first fail appends fail.
type heldStore struct {
	mu      sync.Mutex
	entries []string
	hold    chan struct{}
	fail    atomic.Int32
	calls   atomic.Int32
}

func (h *heldStore) AppendAudit(ctx context.Context, es ...storage.AuditEntry) error {
	h.calls.Add(1)
	if h.hold != nil {
		<-h.hold
	}
	if h.fail.Add(-1) >= 0 {
		return errors.New("store down")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range es {
		h.entries = append(h.entries, e.Details["n"])
	}
	return nil
}

func (h *heldStore) stored() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.entries)
}

func entry(n int) storage.AuditEntry {
	return storage.AuditEntry{Type: "token.introspected", Details: map[string]string{"n": fmt.Sprint(n)}}
}

// TestAppendReadAnswersBeforeTheStore: with a delay set, a read's entry is
// queued and AppendRead returns while the store holds every append; Close
// then stores all of them, in order.
func TestAppendReadAnswersBeforeTheStore(t *testing.T) {
	st := &heldStore{hold: make(chan struct{})}
	w := audit.New(audit.Config{Store: st, ReadDelay: 50 * time.Millisecond})
	for i := range 3 {
		if err := w.AppendRead(context.Background(), entry(i)); err != nil {
			t.Fatalf("AppendRead %d: %v", i, err)
		}
	}
	if got := st.stored(); len(got) != 0 {
		t.Fatalf("stored %v while the store was held", got)
	}
	close(st.hold)
	w.Close()
	if got, want := st.stored(), []string{"0", "1", "2"}; !slices.Equal(got, want) {
		t.Fatalf("stored %v after Close, want %v", got, want)
	}
	if err := w.AppendRead(context.Background(), entry(9)); err == nil {
		t.Fatal("AppendRead after Close = nil, want an error (the entry would be lost)")
	}
}

// TestAppendReadWaitsForRoom: past ReadQueue queued entries a read waits
// (and is counted); one whose context ends first is refused and never
// stored, and nothing queued is dropped.
func TestAppendReadWaitsForRoom(t *testing.T) {
	st := &heldStore{hold: make(chan struct{})}
	var waits atomic.Int32
	w := audit.New(audit.Config{Store: st, ReadDelay: 50 * time.Millisecond, ReadQueue: 2, OnReadWait: func() { waits.Add(1) }})
	for i := range 2 {
		if err := w.AppendRead(context.Background(), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.AppendRead(ctx, entry(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AppendRead into a full queue = %v, want the context's deadline", err)
	}
	if waits.Load() != 1 {
		t.Fatalf("%d waits counted, want 1", waits.Load())
	}
	close(st.hold)
	if err := w.AppendRead(context.Background(), entry(3)); err != nil {
		t.Fatalf("AppendRead once the store took the queue: %v", err)
	}
	w.Close()
	if got, want := st.stored(), []string{"0", "1", "3"}; !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v (2 was refused to its caller)", got, want)
	}
}

// TestAppendReadRetriesAFailingStore: entries of a failing flush stay
// queued and are stored once the store works again.
func TestAppendReadRetriesAFailingStore(t *testing.T) {
	st := &heldStore{}
	st.fail.Store(2)
	w := audit.New(audit.Config{Store: st, ReadDelay: 10 * time.Millisecond})
	defer w.Close()
	if err := w.AppendRead(context.Background(), entry(0)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the entry stored after two failures", func() bool { return len(st.stored()) == 1 })
	if c := st.calls.Load(); c != 3 {
		t.Fatalf("%d store calls, want 3 (two failures, one success)", c)
	}
}

// TestAppendReadWithoutDelayIsDurable: without a delay, AppendRead returns
// only once the store has the entry.
func TestAppendReadWithoutDelayIsDurable(t *testing.T) {
	st := &heldStore{}
	w := audit.New(audit.Config{Store: st})
	if err := w.AppendRead(context.Background(), entry(0)); err != nil {
		t.Fatal(err)
	}
	if got := st.stored(); !slices.Equal(got, []string{"0"}) {
		t.Fatalf("stored %v on return, want [0]", got)
	}
}
