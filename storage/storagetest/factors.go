package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// testClientStepUpFields: default_acr_values and require_mfa round-trip
// through create, update and list.
func testClientStepUpFields(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := newClient("stepup")
	c.DefaultACRValues = []string{"urn:idvauth:acr:mfa", "urn:idvauth:acr:pwd"}
	c.RequireMFA = true
	mustStoreClient(t, s, c)
	upd := c
	upd.DefaultACRValues, upd.RequireMFA = []string{}, false
	upd.UpdatedAt = fixture.Now().Add(time.Second)
	if err := s.UpdateClient(ctx, upd); err != nil {
		t.Fatalf("UpdateClient = %v", err)
	}
	wantClient(t, s, upd)
	list, err := s.ListClients(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListClients = %v, %v", list, err)
	}
	equalClient(t, list[0], upd)
}
