package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/ory/fosite"
)

// NonceHeader is the header that carries a server nonce (RFC 9449
// section 8).
const NonceHeader = "DPoP-Nonce"

// DefaultNonceSlot is how long a nonce is handed out: it is accepted
// during its slot and the next, so for one to two slots.
const DefaultNonceSlot = 5 * time.Minute

// ErrUseNonce is the answer at the token endpoint to a proof without the
// current server nonce (RFC 9449 section 8: use_dpop_nonce, 400, with the
// nonce in the DPoP-Nonce header).
var ErrUseNonce = &fosite.RFC6749Error{
	ErrorField:       "use_dpop_nonce",
	DescriptionField: "Authorization server requires nonce in DPoP proof.",
	CodeField:        http.StatusBadRequest,
}

// Nonces makes and checks server nonces without state: a nonce is an
// HMAC of a time slot, under a key every replica derives from the same
// secrets, so any replica accepts what another handed out. Build them
// with NewNonces; they are safe for concurrent use.
type Nonces struct {
	keys [][]byte // the first makes nonces; all are accepted (rotation)
	slot time.Duration
}

// NewNonces returns Nonces keyed with keys (at least one, 32 bytes or
// more each) and slot (DefaultNonceSlot if zero).
func NewNonces(keys [][]byte, slot time.Duration) (*Nonces, error) {
	if len(keys) == 0 {
		return nil, errors.New("dpop: a nonce key is required")
	}
	for _, k := range keys {
		if len(k) < 32 {
			return nil, errors.New("dpop: a nonce key must have at least 32 bytes")
		}
	}
	if slot <= 0 {
		slot = DefaultNonceSlot
	}
	return &Nonces{keys: keys, slot: slot}, nil
}

// At returns the nonce handed out at now.
func (n *Nonces) At(now time.Time) string { return n.mac(n.keys[0], n.slotOf(now)) }

// Valid reports whether nonce was handed out in the slot of now or the
// one before, under any of the keys.
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	s := n.slotOf(now)
	ok := false
	for _, k := range n.keys {
		for _, slot := range []int64{s, s - 1} {
			ok = hmac.Equal([]byte(nonce), []byte(n.mac(k, slot))) || ok
		}
	}
	return ok
}

func (n *Nonces) slotOf(now time.Time) int64 { return now.UnixNano() / int64(n.slot) }

func (n *Nonces) mac(key []byte, slot int64) string {
	h := hmac.New(sha256.New, key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(slot))
	h.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}
