package mfa

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/idvauth/idvauth/keys"
)

// TOTP parameters (RFC 6238 defaults, which every authenticator app
// reads): SHA-1, 6 digits, 30-second steps, one step of clock skew either
// way.
const (
	Period = 30
	Digits = 6
	Skew   = 1
)

// ErrReplayed says a TOTP code was right but for a time step already used.
var ErrReplayed = errors.New("mfa: code already used")

// NewTOTP makes a new TOTP secret for account (shown in the app) and
// returns the secret (base32) and its otpauth:// URI. rand supplies the
// secret's 160 bits.
func NewTOTP(issuer, account string, rand io.Reader) (secret, uri string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: Period, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand})
	if err != nil {
		return "", "", fmt.Errorf("mfa: generate TOTP secret: %w", err)
	}
	return k.Secret(), k.URL(), nil
}

// Step is the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// MatchTOTP checks code against secret at now, allowing Skew steps
// either way, and returns the time step it was made for. A code for a
// step not after last (the last accepted) is ErrReplayed; a wrong code
// is ok false.
func MatchTOTP(secret, code string, now time.Time, last int64) (step int64, ok bool, err error) {
	if len(code) != Digits {
		return 0, false, nil
	}
	cur := Step(now)
	replayed := false
	for s := cur - Skew; s <= cur+Skew; s++ {
		if s < 0 {
			continue
		}
		match, err := hotp.ValidateCustom(code, uint64(s), secret, hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, fmt.Errorf("mfa: check TOTP code: %w", err)
		}
		if !match {
			continue
		}
		if s <= last {
			replayed = true
			continue
		}
		return s, true, nil
	}
	if replayed {
		return 0, false, ErrReplayed
	}
	return 0, false, nil
}

// secretAAD binds a sealed TOTP secret to its factor and person, so that
// a sealed secret moved onto another record does not open.
func secretAAD(userID, factorID string) []byte {
	return []byte("idvauth totp secret v1\x00" + userID + "\x00" + factorID)
}

// SealSecret seals a TOTP secret for storage.
func SealSecret(s *keys.Sealer, userID, factorID, secret string) ([]byte, error) {
	return s.Seal([]byte(secret), secretAAD(userID, factorID))
}

// OpenSecret opens a TOTP secret that SealSecret sealed.
func OpenSecret(s *keys.Sealer, userID, factorID string, sealed []byte) (string, error) {
	b, _, err := s.Open(sealed, secretAAD(userID, factorID))
	if err != nil {
		return "", fmt.Errorf("mfa: open TOTP secret: %w", err)
	}
	return string(b), nil
}
