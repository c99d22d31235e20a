package authz_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// BenchmarkLargeDatabase measures client_credentials issuance and
// introspection on PostgreSQL, first on an empty database, then after
// filling it, in bulk SQL (generate_series, not the API), with
// IDVAUTH_BENCH_CLIENTS clients and IDVAUTH_BENCH_TOKENS token rows (access
// tokens of those clients, unexpired, so the janitor would keep them). It
// is skipped unless both are set: filling 10 million rows takes minutes.
//
//	IDVAUTH_BENCH_CLIENTS=1000000 IDVAUTH_BENCH_TOKENS=10000000 \
//	  go test -v -run '^$' -bench LargeDatabase -benchtime 3000x -timeout 2h ./authz
//
// (-v shows how long the fill took).
//
// Requests run 8 at a time per core (b.SetParallelism), as concurrent
// clients do, so that commits are shared and ns/op is the inverse of the
// throughput. Each sub-benchmark reports the fill it ran on; the ratio of the seeded
// figure to the empty one is what the size costs.
func BenchmarkLargeDatabase(b *testing.B) {
	clients, errC := strconv.Atoi(os.Getenv("IDVAUTH_BENCH_CLIENTS"))
	tokens, errT := strconv.Atoi(os.Getenv("IDVAUTH_BENCH_TOKENS"))
	if errC != nil || errT != nil || clients < 1 || tokens < 0 {
		b.Skip("set IDVAUTH_BENCH_CLIENTS (at least 1) and IDVAUTH_BENCH_TOKENS to fill PostgreSQL")
	}
	dbURL := pgtest.URL(b)
	h, svc, rs := newBenchServer(b, authz.Config{DatabaseURL: dbURL})
	measure := func(name string) {
		b.Run(name+"/token", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(scaleParallelism)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, tokenRequest(svc))
					if w.Code != http.StatusOK {
						b.Errorf("status %d: %s", w.Code, w.Body)
						return
					}
				}
			})
		})
		// Distinct tokens, each introspected once: every one a store read
		// of a row that is not the last one written.
		b.Run(name+"/introspect", func(b *testing.B) {
			bodies := make([]string, 0, 1000)
			for range cap(bodies) {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, tokenRequest(svc))
				bodies = append(bodies, "token="+url.QueryEscape(accessToken(b, w.Body.Bytes())))
			}
			b.ReportAllocs()
			b.SetParallelism(scaleParallelism)
			b.ResetTimer()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body := bodies[next.Add(1)%int64(len(bodies))]
					r := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", strings.NewReader(body))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.SetBasicAuth(rs.ClientID, rs.ClientSecret)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"active":true`) {
						b.Errorf("status %d: %s", w.Code, w.Body)
						return
					}
				}
			})
		})
	}
	measure("empty")
	start := time.Now()
	fill(b, dbURL, clients, tokens)
	b.Logf("filled %d clients and %d token rows in %v", clients, tokens, time.Since(start).Round(time.Second))
	measure(fmt.Sprintf("clients=%d,tokens=%d", clients, tokens))
}

// scaleParallelism is the number of concurrent requests per core.
const scaleParallelism = 8

// fill inserts clients clients and tokens access token rows, spread over
// them, in batches of a million rows, then analyzes the tables.
func fill(b *testing.B, dbURL string, clients, tokens int) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	const batch = 1_000_000
	for lo := 1; lo <= clients; lo += batch {
		if _, err := conn.Exec(ctx, `
INSERT INTO clients (id, name, secret_hash, grant_types, response_types, redirect_uris, scopes, audience,
                     token_endpoint_auth_method, created_at, updated_at)
SELECT 'bulk-' || i, 'bulk client ' || i, '\x00'::bytea, '{client_credentials}', '{}', '{}', '{identity.verify}',
       '{https://api.example}', 'client_secret_basic', now(), now()
FROM generate_series($1::bigint, $2::bigint) AS i`, lo, min(lo+batch-1, clients)); err != nil {
			b.Fatalf("fill clients: %v", err)
		}
	}
	for lo := 1; lo <= tokens; lo += batch {
		if _, err := conn.Exec(ctx, `
INSERT INTO tokens (kind, signature, request_id, client_id, subject, scopes, audience, key_id, jti, issued_at, expires_at)
SELECT 'access_token', encode(sha256(('sig' || i)::bytea), 'base64'), md5('req' || i), 'bulk-' || (1 + i % $3),
       'bulk-' || (1 + i % $3), '{identity.verify}', '{https://api.example}', 'bulk', md5('jti' || i), now(),
       now() + interval '1 day'
FROM generate_series($1::bigint, $2::bigint) AS i`, lo, min(lo+batch-1, tokens), clients); err != nil {
			b.Fatalf("fill tokens: %v", err)
		}
	}
	if _, err := conn.Exec(ctx, `ANALYZE clients; ANALYZE tokens`); err != nil {
		b.Fatal(err)
	}
}
