package rotation

import (
	"context"
	"crypto/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

// hangingKeys is a key store whose ListKeys, once hang is set, waits for
// its context to end, as a read on a dead connection does.
type hangingKeys struct {
	*memory.Store
	hang  atomic.Bool
	reads atomic.Int32
}

func (s *hangingKeys) ListKeys(ctx context.Context) ([]storage.Key, error) {
	if s.hang.Load() {
		s.reads.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Store.ListKeys(ctx)
}

// TestStepsAreBounded: while the store hangs, each step of the loop is
// given up after one interval and the next one tries again, so the loop
// never stays stuck on one read; Notify never blocks.
func TestStepsAreBounded(t *testing.T) {
	store := &hangingKeys{Store: memory.New()}
	sealer, err := keys.NewSealer([]string{strings.Repeat("s", 40)}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.Open(t.Context(), keys.Config{Store: store, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	k := New(ring, zap.NewNop(), 20*time.Millisecond)
	store.hang.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	for range 10 {
		k.Notify()
	}
	testutil.Eventually(t, time.Minute, "three reads of the hanging store, each given up after an interval",
		func() bool { return store.reads.Load() >= 3 })
	cancel()
	<-done
	if _, err := ring.Active(keys.ES256); err != nil {
		t.Fatalf("the ring lost its keys while the store hung: %v", err)
	}
}
