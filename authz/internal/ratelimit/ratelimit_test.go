package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(2) // 2/s, bucket of 20
	for i := range 20 {
		if ok, _ := l.Allow("a", t0); !ok {
			t.Fatalf("Allow #%d of a full bucket = false, want true", i+1)
		}
	}
	ok, wait := l.Allow("a", t0)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("Allow on an empty bucket = %v, %v; want false, (0, 500ms]", ok, wait)
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatal("another key shares the bucket")
	}
	if empty, _ := l.Empty("a", t0); !empty {
		t.Fatal("Empty(a) = false after the bucket was drained")
	}
	if empty, _ := l.Empty("never-seen", t0); empty {
		t.Fatal("Empty of an unknown key = true, want false")
	}
	if ok, _ := l.Allow("a", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("no token after half a second at 2/s")
	}
	// Empty does not take tokens.
	l2 := New(0.1) // bucket of 1
	for range 3 {
		if empty, _ := l2.Empty("k", t0); empty {
			t.Fatal("Empty took a token")
		}
	}
	if ok, _ := l2.Allow("k", t0); !ok {
		t.Fatal("first Allow refused")
	}
	if ok, wait := l2.Allow("k", t0); ok || wait < 9*time.Second || wait > 10*time.Second {
		t.Fatalf("second Allow = %v, %v; want false, ~10s", ok, wait)
	}
	// Idle buckets are dropped: keys seen an hour ago do not stay.
	for i := range 1000 {
		l.Allow(fmt.Sprint("old", i), t0)
	}
	later := t0.Add(time.Hour)
	for i := range 1000 {
		l.Allow(fmt.Sprint("new", i), later)
	}
	total := 0
	for i := range l.shard {
		total += len(l.shard[i].buckets)
	}
	if total != 1000 {
		t.Fatalf("%d buckets kept, want the 1000 of the last hour", total)
	}
}

func TestNoLimit(t *testing.T) {
	for _, l := range []*Limiter{nil, New(0), New(-1)} {
		for range 1000 {
			if ok, _ := l.Allow("k", time.Now()); !ok {
				t.Fatal("a limiter without a rate refused")
			}
		}
		if empty, _ := l.Empty("k", time.Now()); empty {
			t.Fatal("a limiter without a rate is empty")
		}
	}
}

// TestMaxBurst: a bucket capped below BurstSeconds of its rate holds only
// the cap (the login form's burst is capped at the password hashes that
// run at once).
func TestMaxBurst(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewMaxBurst(10, 3)
	for i := range 3 {
		if ok, _ := l.Allow("k", now); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	if ok, wait := l.Allow("k", now); ok || wait <= 0 {
		t.Fatalf("request 4 of a burst of 3 = %v, %v; want refused with a wait", ok, wait)
	}
	if ok, _ := NewMaxBurst(1, 100).Allow("k", now); !ok {
		t.Fatal("a cap above the burst refused the first request")
	}
}
