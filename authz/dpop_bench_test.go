package authz_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
)

// BenchmarkTokenWorkers compares client_credentials issuance without and
// with a DPoP proof from 8 concurrent workers through the public handler,
// in process: tokens/s and the p50 and p99 latency of one request (proofs
// are signed beforehand, outside the timer). A DPoP request costs one
// proof verification and one used-proof record more.
func BenchmarkTokenWorkers(b *testing.B) {
	for _, mode := range []string{"bearer", "dpop"} {
		b.Run(mode, func(b *testing.B) {
			backends(b, func(b *testing.B, cfg authz.Config) {
				cfg.Issuer = sharedIssuer
				h, svc, _ := newBenchServer(b, cfg)
				var proofs []string
				if mode == "dpop" {
					d := newDPoPKey(b)
					for range b.N {
						proofs = append(proofs, d.proof(http.MethodPost, sharedIssuer+"/oauth2/token", nil))
					}
				}
				var next atomic.Int64
				var mu sync.Mutex
				var lat []time.Duration
				b.SetParallelism(8) // with GOMAXPROCS 1 or 2: at least 8 workers
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					var mine []time.Duration
					for pb.Next() {
						r := tokenRequest(svc)
						if proofs != nil {
							r.Header.Set("DPoP", proofs[next.Add(1)-1])
						}
						t0 := time.Now()
						w := httptest.NewRecorder()
						h.ServeHTTP(w, r)
						mine = append(mine, time.Since(t0))
						if w.Code != http.StatusOK {
							b.Errorf("status %d: %s", w.Code, w.Body)
							return
						}
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
				elapsed := time.Since(start)
				b.StopTimer()
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "tokens/s")
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				}
			})
		})
	}
}
