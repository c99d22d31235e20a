package admin

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestValidLogout pins the rules of the logout metadata: refusals name
// the field and the rule; accepted values are kept exactly.
func TestValidLogout(t *testing.T) {
	code := `"grant_types":["authorization_code"],"redirect_uris":["https://rp.example/cb"],`
	for _, tc := range []struct {
		name, in, want string
		dev            bool
	}{
		{"post logout http", `{` + code + `"post_logout_redirect_uris":["http://rp.example/bye"]}`,
			`post_logout_redirect_uris: "http://rp.example/bye": http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https`, false},
		{"post logout fragment", `{` + code + `"post_logout_redirect_uris":["https://rp.example/bye#x"]}`,
			`post_logout_redirect_uris: "https://rp.example/bye#x": must not have a fragment`, false},
		{"post logout wildcard", `{` + code + `"post_logout_redirect_uris":["https://*.rp.example/bye"]}`,
			`post_logout_redirect_uris: "https://*.rp.example/bye": must be 1 to 2000 characters without spaces, wildcards or control characters`, false},
		{"post logout twice", `{` + code + `"post_logout_redirect_uris":["https://rp.example/bye","https://rp.example/bye"]}`,
			`post_logout_redirect_uris: "https://rp.example/bye" is listed twice`, false},
		{"too many post logout", `{` + code + `"post_logout_redirect_uris":[` + strings.Repeat(`"https://rp.example/bye",`, maxRedirectURIs) + `"https://rp.example/x"]}`,
			"at most 20 post_logout_redirect_uris", false},
		{"backchannel http", `{` + code + `"backchannel_logout_uri":"http://localhost:9/logout"}`,
			`backchannel_logout_uri: "http://localhost:9/logout": must use https (http on a loopback host only with --dev)`, false},
		{"backchannel http remote in dev", `{` + code + `"backchannel_logout_uri":"http://rp.example/logout"}`,
			`backchannel_logout_uri: "http://rp.example/logout": must use https (http only on a loopback host)`, true},
		{"backchannel fragment", `{` + code + `"backchannel_logout_uri":"https://rp.example/logout#f"}`,
			`backchannel_logout_uri: "https://rp.example/logout#f": must not have a fragment`, false},
		{"backchannel internal", `{` + code + `"backchannel_logout_uri":"https://10.1.2.3/logout"}`,
			`backchannel_logout_uri: "https://10.1.2.3/logout": 10.1.2.3 is an internal address`, false},
		{"backchannel relative", `{` + code + `"backchannel_logout_uri":"/logout"}`, `backchannel_logout_uri: "/logout": must be an absolute URL`, false},
		{"session required without uri", `{` + code + `"backchannel_logout_session_required":true}`,
			"backchannel_logout_session_required needs a backchannel_logout_uri", false},
		{"logout without code grant", `{"backchannel_logout_uri":"https://rp.example/logout"}`,
			"post_logout_redirect_uris and backchannel_logout_uri are for clients of the authorization_code grant", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testHandler(t)
			h.cfg.Dev = tc.dev
			var in clientInput
			if err := json.Unmarshal([]byte(tc.in), &in); err != nil {
				t.Fatal(err)
			}
			_, err := h.validClient(in)
			if err == nil || !strings.HasPrefix(err.Error(), "invalid_client_metadata: "+tc.want) {
				t.Errorf("validClient(%s) = %v, want %q", tc.in, err, tc.want)
			}
		})
	}
	h := testHandler(t)
	h.cfg.Dev = true
	var in clientInput
	_ = json.Unmarshal([]byte(`{`+code+`"post_logout_redirect_uris":["https://rp.example/bye?a=1","http://127.0.0.1:8000/bye"],
		"backchannel_logout_uri":"http://localhost:8000/bc","backchannel_logout_session_required":true}`), &in)
	c, err := h.validClient(in)
	if err != nil {
		t.Fatalf("validClient(dev, loopback) = %v", err)
	}
	if want := []string{"https://rp.example/bye?a=1", "http://127.0.0.1:8000/bye"}; !reflect.DeepEqual(c.PostLogoutRedirectURIs, want) ||
		c.BackchannelLogoutURI != "http://localhost:8000/bc" || !c.BackchannelLogoutSessionRequired {
		t.Errorf("validClient record = %q %q %t", c.PostLogoutRedirectURIs, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired)
	}
}
