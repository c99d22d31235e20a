package password

import (
	"bufio"
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// ErrBusy is returned by a Hasher that has no room for another hash now.
// Nothing was hashed; the caller should answer "try again shortly".
var ErrBusy = errors.New("password: too many password hashes in progress")

// Hasher runs argon2id hashes and checks with a bound on the memory they
// hold at once: each costs its memory parameter, and one that does not fit
// in what is left fails at once with ErrBusy instead of waiting (a queue
// would only hold the connections of a flood). Build it with NewHasher; it
// is safe for concurrent use.
type Hasher struct {
	params Params
	// budget is the memory in KiB that hashes may hold at once: capacity
	// hashes of params.MemoryKiB.
	budget   uint64
	capacity int

	mu   sync.Mutex
	used uint64
}

// NewHasher returns a hasher of new hashes with params (defaults where
// zero) that runs at most concurrency hashes of params' memory at once;
// DefaultConcurrency if concurrency is zero or less.
func NewHasher(params Params, concurrency int) *Hasher {
	params = params.WithDefaults()
	if concurrency <= 0 {
		concurrency = DefaultConcurrency(params.MemoryKiB)
	}
	return &Hasher{params: params, capacity: concurrency, budget: uint64(concurrency) * uint64(params.MemoryKiB)}
}

// Capacity is how many hashes of the hasher's own parameters run at once.
func (h *Hasher) Capacity() int { return h.capacity }

// Params are the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash is Params.Hash within the budget, or ErrBusy.
func (h *Hasher) Hash(password string) (string, error) {
	release, ok := h.acquire(h.params.MemoryKiB)
	if !ok {
		return "", ErrBusy
	}
	defer release()
	return h.params.Hash(password)
}

// Check is the package's Check within the budget, or ErrBusy. A stored
// hash costs the memory it names (a hash asking for more than the whole
// budget runs alone); a malformed one is an error, without hashing.
func (h *Hasher) Check(hash, password string) (bool, error) {
	m, err := hashMemoryKiB(hash)
	if err != nil {
		return false, err
	}
	release, ok := h.acquire(m)
	if !ok {
		return false, ErrBusy
	}
	defer release()
	return Check(hash, password)
}

// acquire takes kib of the budget (all of it if kib exceeds it) if that
// much is free.
func (h *Hasher) acquire(kib uint32) (release func(), ok bool) {
	w := min(uint64(kib), h.budget)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.used+w > h.budget {
		return nil, false
	}
	h.used += w
	return func() {
		h.mu.Lock()
		h.used -= w
		h.mu.Unlock()
	}, true
}

// hashMemoryKiB is the memory parameter of the PHC string hash, checked
// like Check does.
func hashMemoryKiB(hash string) (uint32, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return 0, errBadHash
	}
	m, _, ok := strings.Cut(strings.TrimPrefix(parts[3], "m="), ",")
	n, err := strconv.ParseUint(m, 10, 32)
	if !ok || err != nil || n == 0 || n > MaxMemoryKiB {
		return 0, errBadHash
	}
	return uint32(n), nil
}

// Bounds of DefaultConcurrency.
const (
	// MemoryShare is the share of the memory limit that password hashes
	// may hold at once by default: one quarter.
	MemoryShare = 4
	// MaxConcurrencyPerCPU caps the default at this many hashes of
	// DefaultMemoryKiB per GOMAXPROCS (proportionally more of smaller
	// ones): argon2id is CPU-bound, its work grows with its memory, and
	// more hashes at once only make each one slower.
	MaxConcurrencyPerCPU = 2
	// MaxConcurrency caps the default whatever the machine.
	MaxConcurrency = 1024
)

// DefaultConcurrency is how many hashes of memKiB run at once by default:
// as many as fit in a quarter (MemoryShare) of the process's memory limit,
// at most MaxConcurrencyPerCPU hashes of DefaultMemoryKiB per GOMAXPROCS
// (more if memKiB is smaller), at least 1 and at most MaxConcurrency. The
// memory limit is the lowest of GOMEMLIMIT (debug.SetMemoryLimit), the
// cgroup's memory.max, and the machine's total memory; where none is
// known, the CPU bound alone applies.
func DefaultConcurrency(memKiB uint32) int {
	return concurrencyFor(MemoryLimit(), memKiB, runtime.GOMAXPROCS(0))
}

func concurrencyFor(limit uint64, memKiB uint32, procs int) int {
	memKiB = max(memKiB, 1)
	n := uint64(MaxConcurrencyPerCPU*max(procs, 1)) * max(1, DefaultMemoryKiB/uint64(memKiB))
	if limit > 0 {
		n = min(n, limit/MemoryShare/(uint64(memKiB)<<10))
	}
	return int(max(1, min(n, MaxConcurrency)))
}

// MemoryLimit is the lowest of GOMEMLIMIT, the cgroup memory limit and the
// total memory, in bytes; 0 if none is known.
func MemoryLimit() uint64 {
	var limit uint64
	lower := func(v uint64) {
		if v > 0 && (limit == 0 || v < limit) {
			limit = v
		}
	}
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		lower(uint64(l))
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v < 1<<60 {
				lower(v)
			}
		}
	}
	lower(totalMemory())
	return limit
}

// totalMemory is MemTotal of /proc/meminfo in bytes; 0 where unknown.
func totalMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 2 && fields[1] == "kB" {
				if v, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
					return v << 10
				}
			}
		}
	}
	return 0
}
