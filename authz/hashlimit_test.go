package authz_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/settings"
)

// hashMiB is the argon2id memory of TestPasswordHashBudget: large enough
// that unbounded hashing shows in the heap, small enough for a shared
// test machine.
const hashMiB = 16

// answer is one status, Retry-After and body seen by a concurrent caller.
type answer struct {
	status     int
	retryAfter string
	body       string
	err        error
}

// concurrently runs n calls of do at once (released together) and
// returns their answers.
func concurrently(n int, do func(i int) answer) []answer {
	out := make([]answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = do(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func readAnswer(resp *http.Response, err error) answer {
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b), err: err}
}

// heapPeak samples the live heap until stop is closed and returns the
// highest value seen above the heap at the start.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base {
				peak = max(peak, ms.HeapAlloc-base)
			}
			select {
			case <-stop:
				out <- peak
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	return out
}

// TestPasswordHashBudget floods the login form and the admin API with
// requests that each need an argon2id hash, against a budget of two at
// once: the excess get 503 with Retry-After without hashing, the heap
// stays within a few hashes' memory, and nothing fails otherwise.
func TestPasswordHashBudget(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		const budget, n = 2, 32
		cfg.Argon2 = settings.Argon2{Time: 1, MemoryKiB: hashMiB << 10, Threads: 1}
		cfg.PasswordHashConcurrency = budget
		cfg.RateLimits.LoginPerIP = -1 // every post reaches the hash
		cfg.LoginMaxFailuresPerIP = 10 * n
		ts := startServer(t, cfg)
		c := ts.createWebClient(t, adminapi.ClientJSON{})
		b := newBrowser(t)
		login := b.follow(ts.Public, b.get(authURL(c, "state-hash-001", oauth2.GenerateVerifier(), "nonce-hash-01"))).onlyForm(t)

		stop := make(chan struct{})
		peak := heapPeak(stop)
		answers := concurrently(n, func(i int) answer {
			v := url.Values{}
			for k, vs := range login.values {
				v[k] = vs
			}
			v.Set("username", fmt.Sprintf("nobody%d", i))
			v.Set("password", "wrong password "+randomString(6))
			return readAnswer(b.client.PostForm(ts.Public+login.action, v))
		})
		close(stop)
		grew := <-peak
		busy := 0
		for i, a := range answers {
			switch {
			case a.err != nil:
				t.Fatalf("login %d: %v", i, a.err)
			case a.status == http.StatusServiceUnavailable:
				busy++
				if a.retryAfter != "1" || !strings.Contains(a.body, "try") {
					t.Errorf("login %d: 503 with Retry-After %q and body %q, want Retry-After 1 and a page saying to try again", i, a.retryAfter, a.body)
				}
			case a.status == http.StatusOK && strings.Contains(a.body, "not correct"):
			default:
				t.Errorf("login %d = %d %.200s, want the login page again or 503", i, a.status, a.body)
			}
		}
		if busy == 0 {
			t.Errorf("%d concurrent logins against a budget of %d hashes: none got 503", n, budget)
		}
		// The hashes in flight, what the collector has not yet reclaimed
		// of finished ones, and the server's own allocations: far below
		// the n hashes of an unbounded server.
		if limit := uint64(12*hashMiB) << 20; grew > limit {
			t.Errorf("heap grew by %d MiB under %d concurrent logins with a budget of %d hashes of %d MiB; want at most %d MiB",
				grew>>20, n, budget, hashMiB, limit>>20)
		}
		t.Logf("%d logins: %d answered 503; heap grew by at most %d MiB", n, busy, grew>>20)
		// The budget is free again afterwards.
		if p := b.submit(ts.Public, login, url.Values{"username": {"nobody"}, "password": {"wrong password 1"}}); p.status != http.StatusOK || !strings.Contains(p.body, "not correct") {
			t.Fatalf("login after the flood = %d, want the login page again", p.status)
		}

		// People created through the admin API share the budget.
		answers = concurrently(n/2, func(i int) answer {
			body := fmt.Sprintf(`{"username":"person%d","password":%q}`, i, testPassword)
			req, err := http.NewRequest(http.MethodPost, ts.Admin+"/admin/users", strings.NewReader(body))
			if err != nil {
				return answer{err: err}
			}
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			req.Header.Set("Content-Type", "application/json")
			return readAnswer(http.DefaultClient.Do(req))
		})
		busy = 0
		for i, a := range answers {
			switch {
			case a.err != nil:
				t.Fatalf("create %d: %v", i, a.err)
			case a.status == http.StatusServiceUnavailable:
				busy++
				var e struct{ Error string }
				if json.Unmarshal([]byte(a.body), &e) != nil || e.Error != "temporarily_unavailable" || a.retryAfter != "1" {
					t.Errorf("create %d: 503 %q Retry-After %q, want temporarily_unavailable and Retry-After 1", i, a.body, a.retryAfter)
				}
			case a.status != http.StatusCreated:
				t.Errorf("create %d = %d %s, want 201 or 503", i, a.status, a.body)
			}
		}
		if busy == 0 {
			t.Errorf("%d concurrent user creations against a budget of %d hashes: none got 503", n/2, budget)
		}
	})
}
