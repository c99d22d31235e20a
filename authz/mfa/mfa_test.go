package mfa

import (
	"crypto/rand"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/idvauth/idvauth/keys"
)

func TestMatchTOTP(t *testing.T) {
	secret, uri, err := NewTOTP("idvauth", "ada", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) {
		t.Fatalf("URI = %q", uri)
	}
	now := time.Unix(1_800_000_000, 0)
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur := Step(now)
	for _, tc := range []struct {
		name     string
		code     string
		last     int64
		wantStep int64
		wantOK   bool
		wantErr  error
	}{
		{"current", code(now), 0, cur, true, nil},
		{"previous step", code(now.Add(-Period * time.Second)), 0, cur - 1, true, nil},
		{"next step", code(now.Add(Period * time.Second)), 0, cur + 1, true, nil},
		{"two steps old", code(now.Add(-2 * Period * time.Second)), 0, 0, false, nil},
		{"replayed", code(now), cur, 0, false, ErrReplayed},
		{"older than last", code(now.Add(-Period * time.Second)), cur, 0, false, ErrReplayed},
		{"not digits", "abcdef", 0, 0, false, nil},
		{"too short", "12345", 0, 0, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ok, err := MatchTOTP(secret, tc.code, now, tc.last)
			if step != tc.wantStep || ok != tc.wantOK || !errors.Is(err, tc.wantErr) {
				t.Errorf("MatchTOTP = %d, %v, %v; want %d, %v, %v", step, ok, err, tc.wantStep, tc.wantOK, tc.wantErr)
			}
		})
	}
}

func TestSealedSecretBound(t *testing.T) {
	s, err := keys.NewSealer([]string{strings.Repeat("k", 40)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := SealSecret(s, "u1", "f1", "JBSWY3DPEHPK3PXP")
	if err != nil || strings.Contains(string(sealed), "JBSWY3DPEHPK3PXP") {
		t.Fatalf("SealSecret = %q, %v", sealed, err)
	}
	if got, err := OpenSecret(s, "u1", "f1", sealed); got != "JBSWY3DPEHPK3PXP" || err != nil {
		t.Errorf("OpenSecret = %q, %v", got, err)
	}
	if _, err := OpenSecret(s, "u2", "f1", sealed); err == nil {
		t.Error("a sealed secret opened for another person")
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, digests := NewRecoveryCodes()
	if len(codes) != RecoveryCodes || len(digests) != RecoveryCodes {
		t.Fatalf("%d codes, %d digests", len(codes), len(digests))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		n, ok := NormalizeRecovery(strings.ToUpper(c))
		if !ok || string(RecoveryDigest(n)) != string(digests[i]) || seen[n] {
			t.Errorf("code %q: normalized %q, %v", c, n, ok)
		}
		seen[n] = true
	}
	for _, bad := range []string{"", "123456", strings.Repeat("a", 21), strings.Repeat("1", 20), strings.Repeat("é", 10)} {
		if _, ok := NormalizeRecovery(bad); ok {
			t.Errorf("NormalizeRecovery(%q) ok", bad)
		}
	}
}

func TestQRSVG(t *testing.T) {
	svg, err := QRSVG("otpauth://totp/idvauth:ada?secret=JBSWY3DPEHPK3PXP&issuer=idvauth")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
		Rects   []struct {
			X     string `xml:"x,attr"`
			Y     string `xml:"y,attr"`
			Width string `xml:"width,attr"`
		} `xml:"rect"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil || doc.XMLName.Local != "svg" {
		t.Fatalf("not an SVG element: %v", err)
	}
	// A QR code of this size has dozens of dark runs; the three finder
	// patterns alone start with a run of 7 at the quiet zone.
	if len(doc.Rects) < 50 || doc.Rects[1].X != "4" || doc.Rects[1].Y != "4" || doc.Rects[1].Width != "7" {
		t.Errorf("rects = %d, first dark run %+v", len(doc.Rects), doc.Rects[1])
	}
	if strings.Contains(string(svg), "style") {
		t.Error("SVG uses style, which the pages' CSP refuses")
	}
}

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want Level
	}{
		{nil, None},
		{[]string{"urn:other"}, None},
		{[]string{ACRMFA}, MFA},
		{[]string{ACRPhishingResistant}, PhishingResistant},
		{[]string{ACRPhishingResistant, ACRMFA}, MFA},
		{[]string{ACRMFA, ACRPassword}, Password},
		{[]string{"urn:other", ACRMFA}, MFA},
	} {
		if got := Required(tc.in); got != tc.want {
			t.Errorf("Required(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		amr  []string
		want string
	}{
		{nil, ACRPassword},
		{[]string{"pwd", "otp", "mfa"}, ACRMFA},
		{[]string{"swk", "mfa"}, ACRPhishingResistant},
		{[]string{"pwd", "hwk", "mfa"}, ACRPhishingResistant},
		// A key without user verification is one factor.
		{[]string{"hwk"}, ACRPassword},
	} {
		if got := ACR(tc.amr); got != tc.want {
			t.Errorf("ACR(%q) = %s, want %s", tc.amr, got, tc.want)
		}
	}
}
