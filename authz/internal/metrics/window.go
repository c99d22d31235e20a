package metrics

import (
	"sync"
	"time"
)

// windowMinutes is how far back a window counts.
const windowMinutes = 60

// window counts events of the last hour in per-minute buckets: a ring of
// 60 counters, each stamped with the minute it counts, so that a bucket
// of an earlier hour is reset before reuse and never read. It is what
// this replica saw, for the console's dashboard; Prometheus keeps the
// long history.
type window struct {
	mu      sync.Mutex
	minute  [windowMinutes]int64 // the Unix minute each bucket counts
	buckets [windowMinutes]int64
}

// add counts one event at now.
func (w *window) add(now time.Time) {
	m := now.Unix() / 60
	i := m % windowMinutes
	w.mu.Lock()
	if w.minute[i] != m {
		w.minute[i], w.buckets[i] = m, 0
	}
	w.buckets[i]++
	w.mu.Unlock()
}

// sum is the count of the 60 minutes up to now (this minute included).
func (w *window) sum(now time.Time) int64 {
	m := now.Unix() / 60
	var n int64
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.buckets {
		if age := m - w.minute[i]; age >= 0 && age < windowMinutes {
			n += w.buckets[i]
		}
	}
	return n
}
