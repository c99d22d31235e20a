package storagetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// auditShipTests are the contract tests of storage.AuditShipStore.
var auditShipTests = []struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}{
	{"AuditShipLease", testAuditShipLease},
	{"ConcurrentAuditShipLeaseOneWins", testConcurrentAuditShipLeaseOneWins},
}

// testAuditShipLease: one holder at a time; an expired lease passes on;
// only the holder advances, and only forward; sinks are apart.
func testAuditShipLease(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := fixture.Now()
	held, shipped, err := s.LeaseAuditShip(ctx, "sink-a", "r1", now, now.Add(time.Minute))
	if err != nil || !held || shipped != 0 {
		t.Fatalf("LeaseAuditShip(new sink) = %t, %d, %v; want held at 0", held, shipped, err)
	}
	if held, _, err := s.LeaseAuditShip(ctx, "sink-a", "r2", now.Add(time.Second), now.Add(time.Minute)); err != nil || held {
		t.Fatalf("LeaseAuditShip(held by another) = %t, %v; want not held", held, err)
	}
	if err := s.AdvanceAuditShip(ctx, "sink-a", "r2", now, 5); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("AdvanceAuditShip(not the holder) = %v, want ErrConflict", err)
	}
	if err := s.AdvanceAuditShip(ctx, "sink-a", "r1", now, 5); err != nil {
		t.Fatalf("AdvanceAuditShip(holder) = %v", err)
	}
	if err := s.AdvanceAuditShip(ctx, "sink-a", "r1", now, 4); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("AdvanceAuditShip(backwards) = %v, want ErrConflict", err)
	}
	if held, shipped, err := s.LeaseAuditShip(ctx, "sink-a", "r1", now.Add(30*time.Second), now.Add(2*time.Minute)); err != nil || !held || shipped != 5 {
		t.Fatalf("LeaseAuditShip(renewed) = %t, %d, %v; want held at 5", held, shipped, err)
	}
	if held, shipped, err := s.LeaseAuditShip(ctx, "sink-b", "r2", now, now.Add(time.Minute)); err != nil || !held || shipped != 0 {
		t.Fatalf("LeaseAuditShip(another sink) = %t, %d, %v; want held at 0", held, shipped, err)
	}
	// Expired: another takes over, and the old holder can no longer
	// advance.
	later := now.Add(3 * time.Minute)
	if held, shipped, err := s.LeaseAuditShip(ctx, "sink-a", "r2", later, later.Add(time.Minute)); err != nil || !held || shipped != 5 {
		t.Fatalf("LeaseAuditShip(expired lease) = %t, %d, %v; want held at 5", held, shipped, err)
	}
	if err := s.AdvanceAuditShip(ctx, "sink-a", "r1", later, 9); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("AdvanceAuditShip(lost lease) = %v, want ErrConflict", err)
	}
	if err := s.AdvanceAuditShip(ctx, "sink-a", "r2", later.Add(2*time.Minute), 9); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("AdvanceAuditShip(after its lease ended) = %v, want ErrConflict", err)
	}
}

// testConcurrentAuditShipLeaseOneWins: of replicas racing for a free
// lease, one gets it.
func testConcurrentAuditShipLeaseOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := fixture.Now()
	const n = 8
	held := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			held[i], _, err = s.LeaseAuditShip(ctx, "race", string(rune('a'+i)), now, now.Add(time.Minute))
			if err != nil {
				t.Errorf("LeaseAuditShip = %v", err)
			}
		})
	}
	wg.Wait()
	won := 0
	for _, h := range held {
		if h {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d replicas got one free lease, want 1", won, n)
	}
}
