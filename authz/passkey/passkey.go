// Package passkey runs the WebAuthn ceremonies of people's passkeys with
// github.com/go-webauthn/webauthn, which does all the cryptography:
// registration (a discoverable credential, user verification required)
// and sign-in, with the passkey alone (discoverable: the authenticator
// says whose it is) or as the second factor of a known person.
//
// The relying party is the issuer: its ID is the issuer URL's host name
// and the only origin accepted is the issuer's origin (RelyingParty). A
// ceremony's state (the challenge and what it is for) travels sealed
// (AES-256-GCM under IDVAUTH_SECRETS) in the browser's cookie, bound to
// its CSRF token, so every replica can finish what another began; it
// lives StateTTL, and its challenge is used once on every replica
// (AssertionStore). The sign counter only goes forward (a clone is
// refused), and a passkey counts as phishing-resistant multi-factor
// sign-in (amr hwk or swk, and mfa).
package passkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
)

// Store is what the ceremonies read and write.
type Store interface {
	ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error)
	UsePasskey(ctx context.Context, userID, id string, signCount int64, now time.Time) error
	// UseAssertion records a used challenge, once on every replica.
	UseAssertion(ctx context.Context, clientID, jti string, expires time.Time) error
}

// Config configures New.
type Config struct {
	// Issuer is the issuer URL; the relying party is derived from it.
	Issuer string
	Store  Store
	// Sealer seals ceremony state.
	Sealer *keys.Sealer
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// StateTTL is how long a ceremony may take, from the page to the post.
const StateTTL = 5 * time.Minute

// Ceremony kinds, sealed into the state so that a state made for one
// endpoint is refused by another.
const (
	KindLogin    = "login"    // a passkey alone, any person's
	KindSecond   = "second"   // a known person's passkey after a first factor
	KindRegister = "register" // a new passkey of a known person
)

// Errors of the finishing steps. ErrState and ErrInput are the caller's
// request (400); ErrRefused and ErrCloned are failed sign-ins.
var (
	// ErrUnavailable: the issuer's host is not a domain (an IP address),
	// which browsers refuse as a relying party ID.
	ErrUnavailable = errors.New("passkey: the issuer's host is not a domain name, so passkeys cannot be used")
	ErrState       = errors.New("passkey: no live ceremony: start again")
	ErrInput       = errors.New("passkey: the credential could not be read")
	ErrRefused     = errors.New("passkey: the passkey was not accepted")
	// ErrCloned: the authenticator's counter did not go forward, a sign
	// that the passkey was copied.
	ErrCloned = errors.New("passkey: the passkey's counter went back (cloned authenticator?)")
)

// RP runs the ceremonies of one relying party. Build it with New; it is
// safe for concurrent use.
type RP struct {
	wa  *webauthn.WebAuthn
	cfg Config
	id  string
}

// RelyingParty returns the WebAuthn relying party ID and origin of the
// issuer URL: its host name (no port), and its scheme, host and port.
// ErrUnavailable if the host is an IP address.
func RelyingParty(issuer string) (id, origin string, err error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", "", fmt.Errorf("passkey: issuer %q is not an http(s) URL", issuer)
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return "", "", ErrUnavailable
	}
	return host, u.Scheme + "://" + u.Host, nil
}

// New returns the relying party of cfg.Issuer; ErrUnavailable if passkeys
// cannot work there.
func New(cfg Config) (*RP, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("passkey: incomplete configuration")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	id, origin, err := RelyingParty(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: id, RPDisplayName: id, RPOrigins: []string{origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: StateTTL},
			Registration: webauthn.TimeoutConfig{Timeout: StateTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RP{wa: wa, cfg: cfg, id: id}, nil
}

// ID is the relying party ID.
func (rp *RP) ID() string { return rp.id }

// state is a ceremony under way, sealed into the browser's cookie.
type state struct {
	Kind    string               `json:"k"`
	UserID  string               `json:"u,omitempty"`
	Handle  []byte               `json:"h,omitempty"`
	Session webauthn.SessionData `json:"s"`
	Expires int64                `json:"exp"`
}

func stateAAD(binding string) []byte { return []byte("idvauth webauthn v1\x00" + binding) }

// seal seals st for the browser whose CSRF token is binding.
func (rp *RP) seal(st state, binding string) (string, error) {
	// The library's own expiry reads the wall clock; ours is Expires.
	st.Session.Expires = time.Time{}
	st.Expires = rp.cfg.Now().Add(StateTTL).Unix()
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	sealed, err := rp.cfg.Sealer.Seal(b, stateAAD(binding))
	if err != nil {
		return "", err
	}
	return encode(sealed), nil
}

// open opens a sealed state of kind for binding and uses its challenge
// up: ErrState if it is not a live one (or was used already).
func (rp *RP) open(ctx context.Context, sealed, binding, kind string) (state, error) {
	var st state
	raw, ok := decode(sealed)
	if !ok {
		return st, ErrState
	}
	b, _, err := rp.cfg.Sealer.Open(raw, stateAAD(binding))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Kind != kind || rp.cfg.Now().Unix() >= st.Expires {
		return state{}, ErrState
	}
	switch err := rp.cfg.Store.UseAssertion(ctx, "idvauth:webauthn", st.Session.Challenge, time.Unix(st.Expires, 0)); {
	case errors.Is(err, storage.ErrAlreadyExists):
		return state{}, ErrState
	case err != nil:
		return state{}, err
	}
	return st, nil
}

// user is a person as the library sees them: a random handle and their
// passkeys; the name only labels the passkey on the device.
type user struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credentials decodes the stored records of ps, with their counters.
func credentials(ps []storage.Passkey) ([]webauthn.Credential, error) {
	out := make([]webauthn.Credential, 0, len(ps))
	for _, p := range ps {
		var c webauthn.Credential
		if err := json.Unmarshal(p.Credential, &c); err != nil {
			return nil, fmt.Errorf("passkey: stored credential %s: %w", p.ID, err)
		}
		c.Authenticator.SignCount = uint32(p.SignCount)
		out = append(out, c)
	}
	return out, nil
}

// handleOf is the person's user handle: the one of their passkeys, or a
// new random one for their first.
func handleOf(ps []storage.Passkey) []byte {
	for _, p := range ps {
		if len(p.UserHandle) > 0 {
			return bytes.Clone(p.UserHandle)
		}
	}
	h := make([]byte, 32)
	_, _ = rand.Read(h)
	return h
}

// AMR are the RFC 8176 methods a sign-in with a passkey of flags proves:
// a key (hwk when the key cannot leave the device, swk for a synced one,
// which the authenticator marks backup-eligible) and, since the user was
// verified on the device (PIN or biometric), mfa.
func AMR(flags webauthn.CredentialFlags) []string {
	if flags.BackupEligible {
		return []string{mfa.AMRSoftwareKey, mfa.AMRMFA}
	}
	return []string{mfa.AMRHardwareKey, mfa.AMRMFA}
}
