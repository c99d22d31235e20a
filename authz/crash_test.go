package authz_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// childEnv makes TestChildServer serve, on the database it names.
const childEnv = "IDVAUTH_TEST_CHILD_SERVER_DB"

// childFastEnv, set, makes the child use AuditFastCommit.
const childFastEnv = "IDVAUTH_TEST_CHILD_FAST_COMMIT"

// childReady is what the child server prints when it is serving.
type childReady struct {
	Public       string `json:"public"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// TestChildServer is the server that testAuditSurvivesSIGKILL runs in a
// child process (childEnv set) and kills; run otherwise, it skips. It
// prints childReady and serves until it is killed.
func TestChildServer(t *testing.T) {
	db := os.Getenv(childEnv)
	if db == "" {
		t.Skip("the child server of TestAuditSurvivesSIGKILL; runs only in its child process")
	}
	ts := startServer(t, authz.Config{DatabaseURL: db, RateLimits: authz.RateLimits{TokenPerClient: -1, PerIP: -1}, Logger: zap.NewNop(),
		AuditFastCommit: os.Getenv(childFastEnv) != ""})
	b, _ := json.Marshal(childReady{Public: ts.Public, ClientID: ts.Demo.Service.ClientID, ClientSecret: ts.Demo.Service.ClientSecret})
	fmt.Println(string(b))
	select {}
}

// TestAuditSurvivesSIGKILL issues tokens from concurrent workers, kills
// the server with SIGKILL in the middle, and checks that every token
// response that arrived has exactly one token.issued entry, and that the
// chain still verifies.
func TestAuditSurvivesSIGKILL(t *testing.T) {
	t.Run("durable", func(t *testing.T) { testAuditSurvivesSIGKILL(t, false) })
	// Fast commit does not wait for PostgreSQL's disk flush: a kill of
	// idvauth loses nothing either.
	t.Run("fast", func(t *testing.T) { testAuditSurvivesSIGKILL(t, true) })
}

func testAuditSurvivesSIGKILL(t *testing.T, fast bool) {
	db := pgtest.URL(t)
	// The child's own timeout ends it should this test never kill it.
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildServer$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), childEnv+"="+db)
	if fast {
		cmd.Env = append(cmd.Env, childFastEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// A child that never says it is ready is killed, which ends the read.
	const startTimeout = time.Minute
	startTimer := time.AfterFunc(startTimeout, func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	startTimer.Stop()
	if err != nil {
		t.Fatalf("child server did not start (within %v): %v", startTimeout, err)
	}
	var ready childReady
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}

	const workers, killAfter = 16, 300
	var (
		mu      sync.Mutex
		arrived = map[string]bool{}
		count   atomic.Int64
		killed  = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	kill := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			close(killed)
		})
	}
	// The workers stop at the kill or, should it never come (a child that
	// fails every request), at this deadline, and the check of how many
	// responses arrived fails.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-killed:
					return
				case <-ctx.Done():
					return
				default:
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", ready.Public+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
				req.SetBasicAuth(ready.ClientID, ready.ClientSecret)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := client.Do(req)
				if err != nil {
					continue // the server is gone: this response did not arrive
				}
				var body struct {
					AccessToken string `json:"access_token"`
				}
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
					continue
				}
				jti := jtiOf(t, body.AccessToken)
				mu.Lock()
				arrived[jti] = true
				mu.Unlock()
				if count.Add(1) == killAfter {
					kill()
				}
			}
		}()
	}
	wg.Wait()
	kill()
	_ = cmd.Wait()

	st, err := postgres.Open(context.Background(), postgres.Config{URL: db, ClientCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]int{}
	var v storage.AuditVerifier
	f := storage.AuditFilter{Limit: storage.MaxAuditPage}
	for pages := 0; ; pages++ {
		if pages == maxPages {
			t.Fatalf("ListAudit: still full pages after %d", maxPages)
		}
		page, err := st.ListAudit(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if err := v.Add(e); err != nil {
				t.Fatalf("chain after SIGKILL: %v", err)
			}
			if e.Type == adminapi.EventTokenIssued {
				seen[e.Details["jti"]]++
			}
		}
		if len(page) < f.Limit {
			break
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
	if _, err := v.Finish(); err != nil {
		t.Fatalf("chain after SIGKILL: %v", err)
	}
	if len(arrived) < killAfter {
		t.Fatalf("only %d responses arrived before the kill", len(arrived))
	}
	missing := 0
	for jti := range arrived {
		if seen[jti] != 1 {
			missing++
			if missing < 5 {
				t.Errorf("token %s arrived and has %d token.issued entries, want 1", jti, seen[jti])
			}
		}
	}
	t.Logf("%d token responses arrived before SIGKILL; %d token.issued entries (entries of responses cut off by the kill may exist too)", len(arrived), len(seen))
}

// jtiOf reads the jti of one of our access tokens (the signature was
// checked by the server that just issued it; here only the id matters).
func jtiOf(t testing.TB, tok string) string {
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Errorf("parse token: %v", err)
		return ""
	}
	var c jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Errorf("token claims: %v", err)
	}
	return c.ID
}
