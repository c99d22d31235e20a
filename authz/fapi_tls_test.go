package authz_test

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz"
)

// TestFAPI2TLSCipherSuites: where idvauth terminates TLS under
// IDVAUTH_PROFILE=fapi2, a TLS 1.2 client is served only with the
// cipher suites FAPI 2.0 section 5.2.1 permits (BCP 195: ECDHE with
// AES-GCM); one offering only CHACHA20_POLY1305, which the listener
// accepts without the profile, or a version below 1.2, is refused. TLS
// 1.3 is unaffected.
func TestFAPI2TLSCipherSuites(t *testing.T) {
	e := newTLSEnv(t)
	chacha := []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
	permitted := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
	for _, tc := range []struct {
		profile    string
		chachaOK   bool
		wantSuites []uint16
	}{
		{"", true, nil},
		{"fapi2", false, permitted},
	} {
		t.Run("profile="+tc.profile, func(t *testing.T) {
			ts := startServer(t, authz.Config{TLSCertFile: e.certFile, TLSKeyFile: e.keyFile, Profile: tc.profile}, serverOptions{NoDemo: true})
			addr := strings.TrimPrefix(ts.Public, "https://")
			dial := func(tc *tls.Config) (tls.ConnectionState, error) {
				tc.RootCAs = e.roots
				conn, err := tls.Dial("tcp", addr, tc)
				if err != nil {
					return tls.ConnectionState{}, err
				}
				defer conn.Close()
				return conn.ConnectionState(), nil
			}
			_, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: chacha})
			if got := err == nil; got != tc.chachaOK {
				t.Errorf("TLS 1.2 with only CHACHA20_POLY1305 suites: handshake ok = %t (%v), want %t", got, err, tc.chachaOK)
			}
			if _, err := dial(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
				t.Error("TLS 1.1 handshake succeeded, want refused")
			}
			served := 0
			for _, suite := range permitted {
				st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: append([]uint16{suite}, chacha...)})
				if err != nil {
					// The certificate's key type decides which half of
					// the list applies.
					continue
				}
				served++
				if tc.wantSuites != nil && st.CipherSuite != suite {
					t.Errorf("TLS 1.2 offering %s first = %s, want it", tls.CipherSuiteName(suite), tls.CipherSuiteName(st.CipherSuite))
				}
			}
			if tc.wantSuites != nil && served != 2 {
				t.Errorf("%d of the FAPI 2.0 suites served, want 2 (AES-128 and AES-256 GCM for the certificate's key type)", served)
			}
			st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12})
			if err != nil {
				t.Fatalf("TLS 1.2 with Go's default suites: %v", err)
			}
			if tc.wantSuites != nil && !slices.Contains(tc.wantSuites, st.CipherSuite) {
				t.Errorf("TLS 1.2 negotiated %s, not a FAPI 2.0 suite", tls.CipherSuiteName(st.CipherSuite))
			}
			if st, err := dial(&tls.Config{MinVersion: tls.VersionTLS13}); err != nil || st.Version != tls.VersionTLS13 {
				t.Errorf("TLS 1.3 handshake = %x, %v; want TLS 1.3", st.Version, err)
			}
		})
	}
}
