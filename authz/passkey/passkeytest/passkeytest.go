// Package passkeytest is a software WebAuthn authenticator for tests of
// relying parties: ES256 keys, "none" attestation, discoverable
// credentials, user presence and verification always given. It answers
// the options JSON a server sends (what webauthn.js passes to
// navigator.credentials) with the credential JSON webauthn.js posts, so
// that tests over loopback HTTP need no browser. It is not safe for
// anything but tests.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator holds credentials for one origin. Its zero value is not
// usable: set Origin. It is safe for concurrent use.
type Authenticator struct {
	// Origin is the page origin the browser would report, e.g.
	// http://localhost:8080.
	Origin string
	// BackupEligible marks new credentials as synced passkeys (BE flag).
	BackupEligible bool

	mu    sync.Mutex
	creds []*credential
}

type credential struct {
	id, handle []byte
	rpID       string
	key        *ecdsa.PrivateKey
	count      uint32
}

var b64 = base64.RawURLEncoding

// options is the part of the server's options the authenticator reads.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// Create makes a new credential for the creation options optionsJSON and
// returns the registration response JSON.
func (a *Authenticator) Create(optionsJSON string) ([]byte, error) {
	var o options
	if err := json.Unmarshal([]byte(optionsJSON), &o); err != nil {
		return nil, err
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil || o.PublicKey.RP.ID == "" {
		return nil, errors.New("passkeytest: creation options without user.id or rp.id")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &credential{id: make([]byte, 32), handle: handle, rpID: o.PublicKey.RP.ID, key: key}
	_, _ = rand.Read(c.id)
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pad32(key.X.Bytes()), -3: pad32(key.Y.Bytes())})
	if err != nil {
		return nil, err
	}
	att := make([]byte, 16, 16+2+len(c.id)+len(cose)) // AAGUID zero
	att = binary.BigEndian.AppendUint16(att, uint16(len(c.id)))
	att = append(append(att, c.id...), cose...)
	auth := a.authData(c, 0x40, att)
	obj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	cdj := a.clientData("webauthn.create", o.PublicKey.Challenge)
	a.mu.Lock()
	a.creds = append(a.creds, c)
	a.mu.Unlock()
	return json.Marshal(map[string]any{"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cdj), "attestationObject": b64.EncodeToString(obj), "transports": []string{"internal"}}})
}

// Get signs in with a credential for the request options optionsJSON
// (one of allowCredentials, else the newest for the RP ID) and returns
// the assertion response JSON.
func (a *Authenticator) Get(optionsJSON string) ([]byte, error) {
	var o options
	if err := json.Unmarshal([]byte(optionsJSON), &o); err != nil {
		return nil, err
	}
	a.mu.Lock()
	var c *credential
	for i := len(a.creds) - 1; i >= 0 && c == nil; i-- {
		cand := a.creds[i]
		if cand.rpID != o.PublicKey.RPID {
			continue
		}
		if len(o.PublicKey.AllowCredentials) == 0 {
			c = cand
		}
		for _, ac := range o.PublicKey.AllowCredentials {
			if ac.ID == b64.EncodeToString(cand.id) {
				c = cand
			}
		}
	}
	if c == nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("passkeytest: no credential for %q", o.PublicKey.RPID)
	}
	c.count++
	auth := a.authData(c, 0, nil)
	a.mu.Unlock()
	cdj := a.clientData("webauthn.get", o.PublicKey.Challenge)
	sum := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte(nil), auth...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"id": b64.EncodeToString(c.id), "rawId": b64.EncodeToString(c.id), "type": "public-key",
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cdj), "authenticatorData": b64.EncodeToString(auth),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(c.handle)}})
}

// SetCounters sets every credential's signature counter to n, as a copy
// of the authenticator made earlier would have it.
func (a *Authenticator) SetCounters(n uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.creds {
		c.count = n
	}
}

// authData is the authenticator data of c with the extra flags and the
// attested credential data att (creation only). The caller holds a.mu
// or c is not shared yet.
func (a *Authenticator) authData(c *credential, flags byte, att []byte) []byte {
	rp := sha256.Sum256([]byte(c.rpID))
	flags |= 0x01 | 0x04 // user present, user verified
	if a.BackupEligible {
		flags |= 0x08 | 0x10
	}
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, c.count)
	return append(out, att...)
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func pad32(b []byte) []byte {
	out := make([]byte, 32)
	copy(out[32-len(b):], b)
	return out
}
