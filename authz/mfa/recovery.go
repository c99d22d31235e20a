package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// RecoveryCodes is how many recovery codes a person gets at once.
const RecoveryCodes = 10

// recoveryLen is the length of a recovery code without its dashes: 20
// base32 characters, 100 random bits.
const recoveryLen = 20

// NewRecoveryCodes makes RecoveryCodes new codes, to be shown once, and
// their digests, to be stored.
func NewRecoveryCodes() (codes []string, digests [][]byte) {
	for range RecoveryCodes {
		raw := strings.ToLower(rand.Text()[:recoveryLen])
		codes = append(codes, raw[0:5]+"-"+raw[5:10]+"-"+raw[10:15]+"-"+raw[15:20])
		digests = append(digests, RecoveryDigest(raw))
	}
	return codes, digests
}

// NormalizeRecovery is a recovery code as typed, without spaces and
// dashes and in lower case; ok false if it cannot be one.
func NormalizeRecovery(typed string) (string, bool) {
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(typed))
	if len(c) != recoveryLen {
		return "", false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return "", false
		}
	}
	return c, true
}

// RecoveryDigest is what the store keeps of a normalized recovery code:
// its SHA-256. The code has 100 random bits, so a fast hash suffices (as
// for client secrets).
func RecoveryDigest(normalized string) []byte {
	d := sha256.Sum256([]byte("idvauth recovery code v1\x00" + normalized))
	return d[:]
}
