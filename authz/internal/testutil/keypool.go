package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"
)

// rsaPoolSize is how many RSA keys a KeyPool makes before it hands them
// out again: more than any one test's store holds at once, so a store
// never gets one key twice.
const rsaPoolSize = 12

// KeyPool hands out signing keys to test servers (settings.Config's
// GenerateKey). An RSA key takes a fifth of a second to make, and every
// server start makes one or two: a pool makes each once per test binary
// and hands them out in turn. EC keys are cheap and always fresh. Safe for
// concurrent use.
type KeyPool struct {
	mu   sync.Mutex
	rsa  []*rsa.PrivateKey
	next int
}

// Generate implements settings.Config.GenerateKey.
func (p *KeyPool) Generate(alg string) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256", "PS256":
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.rsa) < rsaPoolSize {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return nil, err
			}
			p.rsa = append(p.rsa, k)
			return k, nil
		}
		k := p.rsa[p.next%len(p.rsa)]
		p.next++
		return k, nil
	}
	return nil, fmt.Errorf("testutil: no keys of %q", alg)
}
