package keys

import "crypto/rand"

var cryptoRand = rand.Reader
