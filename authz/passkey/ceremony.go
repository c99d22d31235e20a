package passkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/idvauth/idvauth/storage"
)

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decode(s string) ([]byte, bool) {
	if len(s) > 4096 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return b, err == nil
}

// Begun is a ceremony begun: Options for the page (the WebAuthn JSON of
// navigator.credentials.create or get), State for the browser's cookie.
type Begun struct {
	Options string
	State   string
}

// BeginLogin begins a sign-in for the browser whose CSRF token is
// binding: with any person's passkey if userID is empty (KindLogin), else
// with one of theirs, ps (KindSecond).
func (rp *RP) BeginLogin(userID string, ps []storage.Passkey, binding string) (Begun, error) {
	var opts []webauthn.LoginOption
	kind := KindLogin
	if userID != "" {
		kind = KindSecond
		allowed := make([]protocol.CredentialDescriptor, 0, len(ps))
		creds, err := credentials(ps)
		if err != nil {
			return Begun{}, err
		}
		for _, c := range creds {
			allowed = append(allowed, c.Descriptor())
		}
		opts = append(opts, webauthn.WithAllowedCredentials(allowed))
	}
	opts = append(opts, webauthn.WithUserVerification(protocol.VerificationRequired))
	// Discoverable in both cases: the assertion names its person by the
	// user handle, which must then be the owner's.
	assertion, sess, err := rp.wa.BeginDiscoverableLogin(opts...)
	if err != nil {
		return Begun{}, fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	return rp.begun(assertion, state{Kind: kind, UserID: userID, Session: *sess}, binding)
}

// BeginRegistration begins adding a passkey for the person userID, who
// has the passkeys ps (which the authenticator is told not to make
// again); name labels it on the device.
func (rp *RP) BeginRegistration(userID, name string, ps []storage.Passkey, binding string) (Begun, error) {
	creds, err := credentials(ps)
	if err != nil {
		return Begun{}, err
	}
	u := &user{handle: handleOf(ps), name: name, creds: creds}
	creation, sess, err := rp.wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		return Begun{}, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return rp.begun(creation, state{Kind: KindRegister, UserID: userID, Handle: u.handle, Session: *sess}, binding)
}

func (rp *RP) begun(options any, st state, binding string) (Begun, error) {
	b, err := json.Marshal(options)
	if err != nil {
		return Begun{}, err
	}
	sealed, err := rp.seal(st, binding)
	if err != nil {
		return Begun{}, err
	}
	return Begun{Options: string(b), State: sealed}, nil
}

// Assertion is a parsed sign-in response, not yet checked.
type Assertion struct {
	parsed *protocol.ParsedCredentialAssertionData
}

// ParseAssertion parses body, the credential webauthn.js posts; ErrInput
// if it is not one.
func ParseAssertion(body []byte) (*Assertion, error) {
	p, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil || len(p.RawID) == 0 {
		return nil, ErrInput
	}
	return &Assertion{parsed: p}, nil
}

// CredentialID is the ID of the credential a names (not yet checked).
func (a *Assertion) CredentialID() []byte { return a.parsed.RawID }

// Result is a checked sign-in: the passkey used (with its new counter)
// and the methods it proves.
type Result struct {
	Passkey storage.Passkey
	AMR     []string
}

// FinishLogin checks a, for the state sealed (of kind, for binding),
// against pk, the stored passkey it names, and records its use. For
// KindSecond, pk must be the person's the ceremony began for. Errors:
// ErrState, ErrRefused, ErrCloned, or the store's.
func (rp *RP) FinishLogin(ctx context.Context, sealed, binding, kind string, a *Assertion, pk storage.Passkey) (Result, error) {
	st, err := rp.open(ctx, sealed, binding, kind)
	if err != nil {
		return Result{}, err
	}
	if st.UserID != "" && st.UserID != pk.UserID {
		return Result{}, ErrRefused
	}
	ps, err := rp.cfg.Store.ListPasskeys(ctx, pk.UserID)
	if err != nil {
		return Result{}, err
	}
	creds, err := credentials(ps)
	if err != nil {
		return Result{}, err
	}
	handler := func(rawID, handle []byte) (webauthn.User, error) {
		if !bytes.Equal(rawID, pk.CredentialID) || !bytes.Equal(handle, pk.UserHandle) {
			return nil, ErrRefused
		}
		return &user{handle: pk.UserHandle, creds: creds}, nil
	}
	_, cred, err := rp.wa.ValidatePasskeyLogin(handler, st.Session, a.parsed)
	if err != nil {
		return Result{}, ErrRefused
	}
	if cred.Authenticator.CloneWarning {
		return Result{Passkey: pk}, ErrCloned
	}
	now := rp.cfg.Now().UTC()
	switch err := rp.cfg.Store.UsePasskey(ctx, pk.UserID, pk.ID, int64(cred.Authenticator.SignCount), now); {
	case errors.Is(err, storage.ErrConflict):
		// Another use with this counter won meanwhile.
		return Result{Passkey: pk}, ErrCloned
	case errors.Is(err, storage.ErrNotFound):
		return Result{}, ErrRefused
	case err != nil:
		return Result{}, err
	}
	pk.SignCount, pk.LastUsedAt = int64(cred.Authenticator.SignCount), now
	return Result{Passkey: pk, AMR: AMR(cred.Flags)}, nil
}

// FinishRegistration checks body, the new credential webauthn.js posts,
// for the state sealed (for binding) of the person userID, and returns
// the passkey to store, named name. Errors: ErrState, ErrInput,
// ErrRefused, or the store's.
func (rp *RP) FinishRegistration(ctx context.Context, sealed, binding, userID, name string, body []byte) (storage.Passkey, []string, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return storage.Passkey{}, nil, ErrInput
	}
	st, err := rp.open(ctx, sealed, binding, KindRegister)
	if err != nil {
		return storage.Passkey{}, nil, err
	}
	if st.UserID != userID {
		return storage.Passkey{}, nil, ErrState
	}
	cred, err := rp.wa.CreateCredential(&user{handle: st.Handle}, st.Session, parsed)
	if err != nil || !cred.Flags.UserVerified {
		return storage.Passkey{}, nil, ErrRefused
	}
	rec, err := json.Marshal(cred)
	if err != nil {
		return storage.Passkey{}, nil, err
	}
	now := rp.cfg.Now().UTC()
	return storage.Passkey{ID: "pk_" + encode(randomID()), UserID: userID, CredentialID: slices.Clone(cred.ID), UserHandle: st.Handle,
		Name: name, Credential: rec, SignCount: int64(cred.Authenticator.SignCount), CreatedAt: now, LastUsedAt: now}, AMR(cred.Flags), nil
}

func randomID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}
