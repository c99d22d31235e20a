// Package password hashes people's passwords with argon2id (RFC 9106) and
// checks new ones against the password policy (NIST SP 800-63B). It keeps
// no state.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id parameters of new password hashes. Hashes keep
// their own parameters, so changing these does not break existing ones.
type Params struct {
	// Time is the number of passes; DefaultTime if zero.
	Time uint32
	// MemoryKiB is the memory per hash in KiB; DefaultMemoryKiB if zero.
	MemoryKiB uint32
	// Threads is the parallelism; DefaultThreads if zero.
	Threads uint8
}

// The default parameters follow RFC 9106's second recommended option
// (t=3, 64 MiB), with two lanes.
const (
	DefaultTime      = 3
	DefaultMemoryKiB = 64 << 10
	DefaultThreads   = 2
)

// WithDefaults returns a with the defaults where it has zeros.
func (a Params) WithDefaults() Params {
	if a.Time == 0 {
		a.Time = DefaultTime
	}
	if a.MemoryKiB == 0 {
		a.MemoryKiB = DefaultMemoryKiB
	}
	if a.Threads == 0 {
		a.Threads = DefaultThreads
	}
	return a
}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
	// MaxMemoryKiB bounds what a stored hash may ask for (1 GiB), so a
	// corrupt record cannot exhaust memory.
	MaxMemoryKiB = 1 << 20
)

// Hash returns the PHC string of password under argon2id.
func (a Params) Hash(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, a.Time, a.MemoryKiB, a.Threads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.MemoryKiB, a.Time, a.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// Check reports whether password matches the PHC string hash, in time
// that does not depend on where they differ. A malformed hash is an error.
func Check(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, errBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > MaxMemoryKiB || t == 0 || t > 100 || p == 0 {
		return false, errBadHash
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 128 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Password rules: the length in characters, and at most MaxLen bytes.
const (
	MinLen = 12
	MaxLen = 256 // bytes; argon2 takes any length, people do not need more
)

// commonPasswords are patterns at the top of every breach list. A password
// is refused when, lower-cased and stripped of digits and symbols at its
// ends, it is one of these.
var commonPasswords = []string{
	"password", "passw0rd", "p@ssw0rd", "p@ssword", "qwerty", "qwertyuiop", "asdfgh", "asdfghjkl", "zxcvbnm",
	"letmein", "welcome", "iloveyou", "admin", "administrator", "login", "abc", "abcdef", "monkey",
	"dragon", "football", "baseball", "sunshine", "princess", "master", "shadow", "superman", "trustno",
	"changeme", "secret", "default", "starwars", "whatever", "freedom", "computer", "internet", "qazwsx",
	"access", "hello", "charlie", "michael", "jordan", "hunter", "ninja", "mustang", "batman",
	"summer", "winter", "spring", "autumn", "google", "samsung", "liverpool", "chelsea", "arsenal",
}

// CheckPolicy explains why password is not acceptable for the
// person with username and email, or returns nil. The rules follow NIST SP
// 800-63B: a minimum length, no composition rules, and a check against
// values known from breaches and the person's own identifiers.
func CheckPolicy(password, username, email string) error {
	if !utf8.ValidString(password) {
		return errors.New("the password must be valid UTF-8")
	}
	if strings.IndexFunc(password, unicode.IsControl) >= 0 {
		return errors.New("the password must not contain control characters")
	}
	if n := utf8.RuneCountInString(password); n < MinLen {
		return fmt.Errorf("the password must be at least %d characters long (it has %d)", MinLen, n)
	}
	if len(password) > MaxLen {
		return fmt.Errorf("the password must be at most %d bytes long", MaxLen)
	}
	lower := strings.ToLower(password)
	distinct := map[rune]bool{}
	for _, r := range lower {
		distinct[r] = true
	}
	if len(distinct) < 5 {
		return errors.New("the password repeats too few characters; use a passphrase of several words")
	}
	if isSequence(lower) {
		return errors.New("the password is a keyboard or alphabet sequence, which is among the first guesses")
	}
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	for _, c := range commonPasswords {
		if core != "" && len(core)%len(c) == 0 && strings.Repeat(c, len(core)/len(c)) == core {
			return errors.New("the password is built on a word that tops published breach lists; choose something less common")
		}
	}
	for _, id := range []string{username, strings.SplitN(email, "@", 2)[0]} {
		id = strings.ToLower(id)
		if len(id) >= 3 && strings.Contains(lower, id) {
			return errors.New("the password must not contain the username or the email address")
		}
	}
	return nil
}

// sequences are runs that people type as passwords.
var sequences = []string{
	"abcdefghijklmnopqrstuvwxyz", "zyxwvutsrqponmlkjihgfedcba", "01234567890", "09876543210",
	"qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv5tgb", "qazwsxedcrfvtgbyhnujmikolp",
}

// isSequence reports whether s is made of a run taken from one of the
// sequences, possibly repeated.
func isSequence(s string) bool {
	for _, seq := range sequences {
		for i := range seq {
			for j := i + 3; j <= len(seq); j++ {
				run := seq[i:j]
				if strings.Repeat(run, len(s)/len(run)+1)[:len(s)] == s {
					return true
				}
			}
		}
	}
	return false
}
