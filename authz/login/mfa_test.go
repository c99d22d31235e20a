package login

import (
	"net/url"
	"slices"
	"testing"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/storage"
)

func TestRequestedACR(t *testing.T) {
	for _, tc := range []struct {
		name    string
		form    url.Values
		want    []string
		wantErr bool
	}{
		{"none", url.Values{}, nil, false},
		{"acr_values", url.Values{"acr_values": {"a  b"}}, []string{"a", "b"}, false},
		{"claims values", url.Values{"claims": {`{"id_token":{"acr":{"essential":true,"values":["x","y"]}}}`}}, []string{"x", "y"}, false},
		{"claims value", url.Values{"claims": {`{"id_token":{"acr":{"value":"x"}}}`}}, []string{"x"}, false},
		{"both", url.Values{"acr_values": {"a"}, "claims": {`{"id_token":{"acr":{"values":["x"]}}}`}}, []string{"a", "x"}, false},
		{"other claims", url.Values{"claims": {`{"userinfo":{"email":null},"id_token":{"auth_time":{"essential":true}}}`}}, nil, false},
		{"claims not JSON", url.Values{"claims": {`{`}}, nil, true},
		{"claims a list", url.Values{"claims": {`[]`}}, nil, true},
		{"acr of the wrong type", url.Values{"claims": {`{"id_token":{"acr":{"values":"x"}}}`}}, nil, true},
		{"too many", url.Values{"acr_values": {"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"}}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mfa.RequestedACR(tc.form)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("RequestedACR(%v) = %q, %v; want %q, error %v", tc.form, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	client := func(rec storage.Client) *clientauth.Client { return &clientauth.Client{Rec: rec} }
	for _, tc := range []struct {
		name        string
		c           storage.Client
		form        url.Values
		serverWants bool
		want        mfa.Level
	}{
		{"nothing", storage.Client{}, url.Values{}, false, mfa.None},
		{"request", storage.Client{}, url.Values{"acr_values": {mfa.ACRMFA}}, false, mfa.MFA},
		{"client default", storage.Client{DefaultACRValues: []string{mfa.ACRMFA}}, url.Values{}, false, mfa.MFA},
		{"request before default", storage.Client{DefaultACRValues: []string{mfa.ACRMFA}}, url.Values{"acr_values": {mfa.ACRPassword}}, false, mfa.Password},
		{"require_mfa over request", storage.Client{RequireMFA: true}, url.Values{"acr_values": {mfa.ACRPassword}}, false, mfa.MFA},
		{"server", storage.Client{}, url.Values{"acr_values": {mfa.ACRPassword}}, true, mfa.MFA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &SecondFactor{h: &Handler{cfg: Config{MFARequired: tc.serverWants}}}
			if got := m.required(client(tc.c), tc.form); got != tc.want {
				t.Errorf("required = %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzRequestedACR: the acr parser takes any form without panicking, and
// what it accepts is at most 16 values.
func FuzzRequestedACR(f *testing.F) {
	f.Add("urn:idvauth:acr:mfa", `{"id_token":{"acr":{"essential":true,"values":["urn:idvauth:acr:mfa"]}}}`)
	f.Add("", `{"id_token":{"acr":null}}`)
	f.Add("a b", `{"id_token":[]}`)
	f.Fuzz(func(t *testing.T, acrValues, claims string) {
		got, err := mfa.RequestedACR(url.Values{"acr_values": {acrValues}, "claims": {claims}})
		if err == nil && len(got) > 16 {
			t.Errorf("requestedACR accepted %d values", len(got))
		}
	})
}
