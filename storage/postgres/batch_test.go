package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestGroupInsert holds one insert so that others queue behind it, and
// checks that the queue is stored in one statement with each caller
// getting its own answer: success, a taken signature, a missing client.
func TestGroupInsert(t *testing.T) {
	s := pgtest.Open(t)
	t.Run("duplicate", func(t *testing.T) { testGroupInsert(t, s, false) })
	t.Run("duplicate and missing client", func(t *testing.T) { testGroupInsert(t, s, true) })
}

func testGroupInsert(t *testing.T, s *postgres.Store, ghost bool) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if err := s.CreateClient(ctx, storage.Client{ID: "c", Name: "c", CreatedAt: now, UpdatedAt: now}); err != nil &&
		!errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatal(err)
	}
	tok := func(i int, client string) storage.Token {
		return storage.Token{Kind: storage.AccessToken, Signature: fmt.Sprintf("sig-%d-%t", i, ghost), RequestID: fmt.Sprintf("req-%d", i),
			ClientID: client, Subject: client, Scopes: []string{`odd,"scope"`, fmt.Sprint(i)}, Audience: []string{`{aud}`},
			IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
	}
	const queued = 20
	toks := []storage.Token{tok(0, "c")}
	for i := 1; i <= queued; i++ {
		toks = append(toks, tok(i, "c"))
	}
	if ghost {
		toks[5].ClientID = "ghost"
	}
	toks[7].Signature = toks[6].Signature

	errs, flushes := queueBehindHeldFlush(t, tokenFlushes(s), queued, func(i int) error { return s.CreateToken(ctx, toks[i]) })
	if flushes != 2 {
		t.Errorf("%d group inserts for 1 + %d queued tokens, want 2", flushes, queued)
	}
	// Tokens 6 and 7 share a signature: whichever queued first wins.
	if (errs[6] == nil) == (errs[7] == nil) {
		t.Errorf("two tokens with one signature: %v and %v, want exactly one stored", errs[6], errs[7])
	}
	for i, err := range errs {
		switch {
		case i == 5 && ghost:
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("token of a missing client: %v, want ErrNotFound", err)
			}
		case (i == 6 || i == 7) && err != nil:
			if !errors.Is(err, storage.ErrAlreadyExists) {
				t.Errorf("token with a taken signature: %v, want ErrAlreadyExists", err)
			}
		default:
			if err != nil {
				t.Errorf("token %d: %v", i, err)
				continue
			}
			got, err := s.GetToken(ctx, storage.AccessToken, toks[i].Signature)
			if err != nil || got.RequestID != toks[i].RequestID || got.Scopes[0] != toks[i].Scopes[0] || got.Scopes[1] != fmt.Sprint(i) || got.Audience[0] != `{aud}` {
				t.Errorf("token %d read back as %+v, %v", i, got, err)
			}
		}
	}
}
