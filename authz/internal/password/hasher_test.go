package password

import (
	"errors"
	"testing"
)

func TestHasherBudget(t *testing.T) {
	h := NewHasher(Params{Time: 1, MemoryKiB: 64, Threads: 1}, 2)
	if h.Capacity() != 2 {
		t.Fatalf("Capacity() = %d, want 2", h.Capacity())
	}
	r1, ok1 := h.acquire(64)
	r2, ok2 := h.acquire(64)
	if !ok1 || !ok2 {
		t.Fatal("two hashes of a budget of two did not fit")
	}
	if _, err := h.Hash("correct horse battery staple"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with a full budget = %v, want ErrBusy", err)
	}
	r1()
	hash, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash with room = %v", err)
	}
	if ok, err := h.Check(hash, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("Check = %v, %v; want true, nil", ok, err)
	}
	// A stored hash asking for more than the budget runs alone.
	big := "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
	if _, err := h.Check(big, "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Check of a large hash beside a running one = %v, want ErrBusy", err)
	}
	r2()
	if _, err := h.Check("$argon2id$v=19$m=x,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x"); err == nil || errors.Is(err, ErrBusy) {
		t.Fatalf("Check of a malformed hash = %v, want a malformed-hash error", err)
	}
	if h.used != 0 {
		t.Fatalf("budget in use after all returned: %d KiB", h.used)
	}
}

func TestConcurrencyFor(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name   string
		limit  uint64
		memKiB uint32
		procs  int
		want   int
	}{
		{"quarter of 1 GiB in 64 MiB hashes", gib, 64 << 10, 8, 4},
		{"capped by CPUs", 24 * gib, 64 << 10, 2, 4},
		{"small container still hashes", 128 << 20, 64 << 10, 2, 1},
		{"unknown limit: CPUs alone", 0, 64 << 10, 4, 8},
		{"cheap hashes: more per CPU", 24 * gib, 64, 2, MaxConcurrency},
		{"cheap hashes within memory", 64 << 20, 1 << 10, 2, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := concurrencyFor(tc.limit, tc.memKiB, tc.procs); got != tc.want {
				t.Errorf("concurrencyFor(%d, %d, %d) = %d, want %d", tc.limit, tc.memKiB, tc.procs, got, tc.want)
			}
		})
	}
}
