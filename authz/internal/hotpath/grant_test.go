package hotpath

import (
	"context"
	"errors"
	"testing"

	"github.com/ory/fosite"
)

// fakeHandler serves the grant it names and counts the responses it is
// asked to populate.
type fakeHandler struct {
	fosite.TokenEndpointHandler
	grant     string
	populated int
}

func (f *fakeHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(f.grant)
}

func (f *fakeHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	f.populated++
	return nil
}

func accessRequest(grant string) *fosite.AccessRequest {
	ar := fosite.NewAccessRequest(nil)
	ar.GrantTypes = fosite.Arguments{grant}
	return ar
}

func TestOwnGrant(t *testing.T) {
	ctx := context.Background()
	f := &fakeHandler{grant: "client_credentials"}
	h := OwnGrant(f)
	resp := fosite.NewAccessResponse()

	err := h.PopulateTokenEndpointResponse(ctx, accessRequest("authorization_code"), resp)
	if !errors.Is(err, fosite.ErrUnknownRequest) {
		t.Fatalf("another grant: err = %v, want ErrUnknownRequest", err)
	}
	if f.populated != 0 {
		t.Fatalf("another grant reached the handler %d times", f.populated)
	}
	if err := h.PopulateTokenEndpointResponse(ctx, accessRequest("client_credentials"), resp); err != nil {
		t.Fatalf("its own grant: %v", err)
	}
	if f.populated != 1 {
		t.Fatalf("its own grant reached the handler %d times, want 1", f.populated)
	}
	if !h.CanHandleTokenEndpointRequest(ctx, accessRequest("client_credentials")) || h.CanHandleTokenEndpointRequest(ctx, accessRequest("refresh_token")) {
		t.Fatal("CanHandleTokenEndpointRequest is not the handler's")
	}
}
