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

// childReadDelayEnv, set to a duration, is the child's AuditReadDelay.
const childReadDelayEnv = "IDVAUTH_TEST_CHILD_READ_DELAY"

// childReady is what the child server prints when it is serving.
type childReady struct {
	Public       string `json:"public"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RSID         string `json:"rs_id"`
	RSSecret     string `json:"rs_secret"`
}

// TestChildServer is the server that testAuditSurvivesSIGKILL runs in a
// child process (childEnv set) and kills; run otherwise, it skips. It
// prints childReady and serves until it is killed.
func TestChildServer(t *testing.T) {
	db := os.Getenv(childEnv)
	if db == "" {
		t.Skip("the child server of TestAuditSurvivesSIGKILL; runs only in its child process")
	}
	delay, _ := time.ParseDuration(os.Getenv(childReadDelayEnv))
	ts := startServer(t, authz.Config{DatabaseURL: db, RateLimits: authz.RateLimits{TokenPerClient: -1, IntrospectPerClient: -1, PerIP: -1}, Logger: zap.NewNop(),
		AuditFastCommit: os.Getenv(childFastEnv) != "", AuditReadDelay: delay})
	b, _ := json.Marshal(childReady{Public: ts.Public, ClientID: ts.Demo.Service.ClientID, ClientSecret: ts.Demo.Service.ClientSecret,
		RSID: ts.Demo.ResourceServer.ClientID, RSSecret: ts.Demo.ResourceServer.ClientSecret})
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
	var env []string
	if fast {
		env = append(env, childFastEnv+"=1")
	}
	cmd, ready := startChild(t, db, env...)

	const workers, killAfter = 16, 300
	var (
		mu      sync.Mutex
		arrived = map[string]bool{}
		count   atomic.Int64
	)
	kill := runUntilKilled(t, cmd, workers, func(ctx context.Context, client *http.Client) {
		_, jti := issue(ctx, t, client, ready)
		if jti == "" {
			return
		}
		mu.Lock()
		arrived[jti] = true
		mu.Unlock()
		if count.Add(1) == killAfter {
			cmd.kill()
		}
	})
	kill()

	seen := map[string]int{}
	for _, e := range trailAfterKill(t, db) {
		if e.Type == adminapi.EventTokenIssued {
			seen[e.Details["jti"]]++
		}
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

// TestReadAuditSurvivesSIGKILL: with read entries stored after their
// answers (AuditReadDelay), a SIGKILL in the middle of issuance and
// introspection loses no token.issued entry of a token that arrived, and
// of the introspection entries only those of answers that arrived within
// the delay (and a scheduling slack) before the kill; the chain verifies,
// and a server appending after the kill continues it.
func TestReadAuditSurvivesSIGKILL(t *testing.T) {
	const delay = 50 * time.Millisecond
	// slack allows for a flush that a loaded machine (or PostgreSQL's
	// disk) holds up: it bounds what the test accepts as lost, not how
	// fast anything must be.
	const slack = 2 * time.Second
	db := pgtest.URL(t)
	cmd, ready := startChild(t, db, childReadDelayEnv+"="+delay.String())

	const workers, killAfter = 8, 400
	var (
		mu        sync.Mutex
		tokens    = map[string]bool{}
		answered  = map[string]time.Time{} // request ID of each introspection answer: when it arrived
		count     atomic.Int64
		killTime  time.Time
		killClock sync.Once
	)
	kill := runUntilKilled(t, cmd, workers, func(ctx context.Context, client *http.Client) {
		token, jti := issue(ctx, t, client, ready)
		if jti == "" {
			return
		}
		mu.Lock()
		tokens[jti] = true
		mu.Unlock()
		id := introspect(ctx, client, ready, token)
		if id == "" {
			return
		}
		at := time.Now()
		mu.Lock()
		answered[id] = at
		mu.Unlock()
		if count.Add(1) == killAfter {
			killClock.Do(func() { killTime = time.Now() })
			cmd.kill()
		}
	})
	kill()
	killClock.Do(func() { killTime = time.Now() })

	trail := trailAfterKill(t, db)
	issued, introspected := map[string]int{}, map[string]bool{}
	for _, e := range trail {
		switch e.Type {
		case adminapi.EventTokenIssued:
			issued[e.Details["jti"]]++
		case adminapi.EventTokenIntrospected:
			introspected[e.RequestID] = true
		}
	}
	if len(answered) < killAfter {
		t.Fatalf("only %d introspection answers arrived before the kill", len(answered))
	}
	for jti := range tokens {
		if issued[jti] != 1 {
			t.Errorf("token %s arrived and has %d token.issued entries, want 1: state-changing entries are durable before the answer", jti, issued[jti])
		}
	}
	lost, lostLate := 0, 0
	for id, at := range answered {
		if introspected[id] {
			continue
		}
		lost++
		if at.Before(killTime.Add(-delay - slack)) {
			lostLate++
			if lostLate < 5 {
				t.Errorf("introspection %s answered %v before the kill has no entry: more than the read delay (%v) was lost", id, killTime.Sub(at), delay)
			}
		}
	}
	t.Logf("%d introspection answers arrived before SIGKILL, %d of them without an entry (all within the last %v)", len(answered), lost, delay+slack)

	// A server started after the kill continues the chain.
	st, err := postgres.Open(context.Background(), postgres.Config{URL: db, ClientCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AppendAudit(context.Background(), storage.AuditEntry{Time: time.Now(), Type: adminapi.EventKeyCreated, Actor: "system", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	if got := trailAfterKill(t, db); len(got) != len(trail)+1 {
		t.Fatalf("trail after restart has %d entries, want %d", len(got), len(trail)+1)
	}
}

// child is a server in a child process (TestChildServer).
type child struct {
	*exec.Cmd
	once   sync.Once
	killed chan struct{}
}

// kill kills the child with SIGKILL (once).
func (c *child) kill() {
	c.once.Do(func() {
		_ = c.Process.Signal(syscall.SIGKILL)
		close(c.killed)
	})
}

// startChild starts TestChildServer on db with the extra environment env
// and waits until it serves.
func startChild(t *testing.T, db string, env ...string) (*child, childReady) {
	t.Helper()
	// The child's own timeout ends it should this test never kill it.
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildServer$", "-test.timeout=5m")
	cmd.Env = append(append(os.Environ(), childEnv+"="+db), env...)
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
	return &child{Cmd: cmd, killed: make(chan struct{})}, ready
}

// runUntilKilled runs step in a loop on each of workers goroutines until
// the child is killed (a step kills it) or, should that never happen (a
// child that fails every request), a deadline passes; the caller's check
// of how many answers arrived then fails. It returns a func that kills the
// child (if no step did) and waits for it to exit.
func runUntilKilled(t *testing.T, c *child, workers int, step func(context.Context, *http.Client)) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				select {
				case <-c.killed:
					return
				default:
				}
				step(ctx, client)
			}
		}()
	}
	return func() {
		wg.Wait()
		cancel()
		c.kill()
		_ = c.Wait()
	}
}

// issue gets a client_credentials token from the child and returns it and
// its jti, or "" if no token arrived.
func issue(ctx context.Context, t testing.TB, client *http.Client, ready childReady) (token, jti string) {
	req, _ := http.NewRequestWithContext(ctx, "POST", ready.Public+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.SetBasicAuth(ready.ClientID, ready.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", "" // the server is gone: this response did not arrive
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", ""
	}
	return body.AccessToken, jtiOf(t, body.AccessToken)
}

// introspect introspects token as the demo resource server and returns
// the request ID of a complete answer, "" if none arrived.
func introspect(ctx context.Context, client *http.Client, ready childReady, token string) string {
	req, _ := http.NewRequestWithContext(ctx, "POST", ready.Public+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.SetBasicAuth(ready.RSID, ready.RSSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Active == nil {
		return ""
	}
	return resp.Header.Get("X-Request-Id")
}

// trailAfterKill reads the whole audit trail of db and verifies its
// chain.
func trailAfterKill(t *testing.T, db string) []storage.AuditEntry {
	t.Helper()
	st, err := postgres.Open(context.Background(), postgres.Config{URL: db, ClientCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var all []storage.AuditEntry
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
		}
		all = append(all, page...)
		if len(page) < f.Limit {
			break
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
	if _, err := v.Finish(); err != nil {
		t.Fatalf("chain after SIGKILL: %v", err)
	}
	return all
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
