package browsertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Authenticator is a virtual WebAuthn authenticator attached to a tab.
type Authenticator struct {
	tab *Tab
	ID  webauthn.AuthenticatorID
}

// AddAuthenticator enables the DevTools WebAuthn domain on the tab and
// attaches a virtual platform authenticator, as a phone or laptop with a
// passkey provider: CTAP 2.1 over the internal transport, with resident
// (discoverable) keys and user verification that always succeeds, and
// user presence confirmed without a person. It stays attached until the
// tab closes.
func (tab *Tab) AddAuthenticator(t testing.TB) *Authenticator {
	t.Helper()
	call(t, tab, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)})
	res := call(t, tab, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol:            webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:        webauthn.Ctap2versionCtap21,
		Transport:           webauthn.AuthenticatorTransportInternal,
		HasResidentKey:      true,
		HasUserVerification: true,
		IsUserVerified:      true,
		// The protocol's default is true, but the field is sent as is:
		// without it no ceremony would ever complete.
		AutomaticPresenceSimulation: true,
	}})
	return &Authenticator{tab: tab, ID: res.AuthenticatorID}
}

// Credentials returns the credentials the authenticator holds.
func (a *Authenticator) Credentials(t testing.TB) []*webauthn.Credential {
	t.Helper()
	return call(t, a.tab, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.ID}).Credentials
}

// CopyCredentials replaces the authenticator's credentials with copies
// whose signature counters start again at 0, as a cloned authenticator
// would have them: the same keys, a counter behind the original's.
func (a *Authenticator) CopyCredentials(t testing.TB) {
	t.Helper()
	creds := a.Credentials(t)
	call(t, a.tab, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: a.ID})
	// The protocol's own Credential type always sends a CMTG field, which
	// the virtual authenticator refuses: only the fields a copy needs.
	type credential struct {
		CredentialID         []byte  `json:"credentialId"`
		IsResidentCredential bool    `json:"isResidentCredential"`
		RpID                 string  `json:"rpId"`
		PrivateKey           []byte  `json:"privateKey"`
		UserHandle           []byte  `json:"userHandle,omitempty"`
		SignCount            float64 `json:"signCount"`
		BackupEligibility    bool    `json:"backupEligibility"`
		BackupState          bool    `json:"backupState"`
	}
	type params struct {
		AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
		Credential      credential               `json:"credential"`
	}
	add := cdp.Command[params, cdp.Empty]{Method: webauthn.CommandAddCredential}
	for _, c := range creds {
		call(t, a.tab, add, params{AuthenticatorID: a.ID, Credential: credential{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential,
			RpID: c.RpID, PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, BackupEligibility: c.BackupEligibility, BackupState: c.BackupState}})
	}
}

// SetUserVerified makes user verification succeed (true) or fail, as a
// person who does or does not unlock the device.
func (a *Authenticator) SetUserVerified(t testing.TB, ok bool) {
	t.Helper()
	call(t, a.tab, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: a.ID, IsUserVerified: ok})
}

// call sends one protocol command to the tab's target, bounded by
// StepTimeout, and fails t on error.
func call[P, R any](t testing.TB, tab *Tab, cmd cdp.Command[P, R], params P) R {
	t.Helper()
	return Get(t, tab, chromedp.Action[R](func(ctx context.Context, tg *chromedp.Target) (R, error) {
		r, err := cdp.Call(ctx, tg, cmd, params)
		if err != nil {
			return r, fmt.Errorf("%s: %w", cmd.Method, err)
		}
		return r, nil
	}))
}
