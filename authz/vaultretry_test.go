package authz_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
	"github.com/idvauth/idvauth/storage/postgres/vault"
)

// failingDelete is a store whose DeleteUser fails while fail is set: an
// erasure interrupted after the person's key left the person-key store
// and before their row went.
type failingDelete struct {
	storage.Store
	fail atomic.Bool
}

func (f *failingDelete) DeleteUser(ctx context.Context, id string) error {
	if f.fail.Load() {
		return errors.New("injected: the connection to the main database dropped")
	}
	return f.Store.DeleteUser(ctx, id)
}

// TestErasureRetriedAfterKeyGone: an erasure (and a deletion) that fails
// after the data key was deleted from the person-key store is retried and
// then removes the row and the person's tokens, though the row's profile
// no longer opens: the retry is not answered 404 with the row left.
func TestErasureRetriedAfterKeyGone(t *testing.T) {
	run := func(t *testing.T, raw storage.Store, cfg authz.Config) {
		ctx := context.Background()
		fd := &failingDelete{Store: raw}
		cfg.Store = fd
		ts := startServer(t, codeFlowConfig(cfg), serverOptions{NoDemo: true})
		c := ts.createWebClient(t, adminapi.ClientJSON{})
		erased := ts.createPerson(t, "eva.retry", "Eva Retry", "eva@example.org")
		deleted := ts.createPerson(t, "dan.retry", "Dan Retry", "dan@example.org")
		ts.signsIn(t, c, erased)
		fd.fail.Store(true)
		if code, b := ts.adminJSON(t, "POST", "/admin/users/"+erased.ID+"/erase", nil); code < 500 {
			t.Fatalf("erase with the main database failing: %d %s; want a 5xx", code, b)
		}
		if code, b := ts.adminJSON(t, "DELETE", "/admin/users/"+deleted.ID, nil); code < 500 {
			t.Fatalf("delete with the main database failing: %d %s; want a 5xx", code, b)
		}
		fd.fail.Store(false)
		if _, err := raw.GetUser(ctx, erased.ID); err != nil {
			t.Fatalf("the row of %s went though the erasure failed: %v; the test would prove nothing", erased.ID, err)
		}
		if code, b := ts.adminJSON(t, "POST", "/admin/users/"+erased.ID+"/erase", nil); code != http.StatusOK {
			t.Errorf("retried erase: %d %s; want 200", code, b)
		}
		if code, b := ts.adminJSON(t, "DELETE", "/admin/users/"+deleted.ID, nil); code != http.StatusNoContent {
			t.Errorf("retried delete: %d %s; want 204", code, b)
		}
		for _, id := range []string{erased.ID, deleted.ID} {
			if _, err := raw.GetUser(ctx, id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("the row of %s is still there after the retry: %v", id, err)
			}
			if toks, err := raw.ListTokensBySubject(ctx, id); err != nil || len(toks) != 0 {
				t.Errorf("%d tokens of %s left after the retry (%v)", len(toks), id, err)
			}
		}
		if code, b := ts.adminJSON(t, "POST", "/admin/users/"+erased.ID+"/erase", nil); code != http.StatusNotFound {
			t.Errorf("erase of a person gone: %d %s; want 404", code, b)
		}
	}
	t.Run("memory", func(t *testing.T) {
		run(t, memory.New(), authz.Config{PersonKeys: memory.NewPersonKeys()})
	})
	t.Run("postgres", func(t *testing.T) {
		run(t, pgtest.Open(t), authz.Config{PersonKeysDatabaseURL: pgtest.VaultURL(t)})
	})
}

// TestFourEyesErasureOfRowWithoutKey: under four-eyes, the erasure of a
// person whose row remains though their key is gone from the person-key
// store (a half-failed erasure, a restored backup) is held, not answered
// 404, and its approval removes the row.
func TestFourEyesErasureOfRowWithoutKey(t *testing.T) {
	run := func(t *testing.T, raw storage.Store, cfg authz.Config, pk storage.PersonKeyStore) {
		ctx := context.Background()
		cfg.Store = raw
		fe := startFourEyes(t, cfg)
		_, aliceTok := fe.operator(t, adminauth.Admin)
		_, bobTok := fe.operator(t, adminauth.Admin)
		person := fe.createPerson(t, "kay.keyless", "Kay Keyless", "kay@example.org")
		if err := pk.DeletePersonKey(ctx, person.ID); err != nil {
			t.Fatal(err)
		}
		req := feCall[adminapi.RequestJSON](t, fe, aliceTok, http.MethodPost, "/admin/users/"+person.ID+"/erase", nil, http.StatusAccepted)
		d := feCall[adminapi.RequestDecision](t, fe, bobTok, http.MethodPost, "/admin/requests/"+req.ID+"/approve", nil, http.StatusOK)
		if d.Status != http.StatusOK {
			t.Errorf("approval = %+v (answer %s); want the erasure done", d, d.Answer)
		}
		if _, err := raw.GetUser(ctx, person.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the row of %s is still there after the approved erasure: %v", person.ID, err)
		}
	}
	t.Run("memory", func(t *testing.T) {
		pk := memory.NewPersonKeys()
		run(t, memory.New(), authz.Config{PersonKeys: pk}, pk)
	})
	t.Run("postgres", func(t *testing.T) {
		u := pgtest.VaultURL(t)
		v, err := vault.Open(context.Background(), vault.Config{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		run(t, pgtest.Open(t), authz.Config{PersonKeysDatabaseURL: u}, v)
	})
}
