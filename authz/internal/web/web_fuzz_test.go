package web

import (
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// tokenRepeatable are the parameters the token endpoint lets repeat.
var tokenRepeatable = []string{"audience", "resource"}

// readForm runs ReadForm on a POST with body, content type ct and raw
// query string query, as the token endpoint does.
func readForm(body, ct, query string) (*http.Request, *Error) {
	r := &http.Request{
		Method: http.MethodPost,
		URL:    &url.URL{Path: "/oauth2/token", RawQuery: query},
		Header: http.Header{"Content-Type": {ct}},
		Body:   io.NopCloser(strings.NewReader(body)),
	}
	return r, ReadForm(httptest.NewRecorder(), r, tokenRepeatable...)
}

// FuzzReadForm: any body, content type and query string are read without
// a panic. A form that is accepted is form-encoded, came without a query
// string, fits MaxFormBytes, names each parameter once unless it may
// repeat, holds what url.ParseQuery reads from the body, and reads the
// same once encoded again. A refusal is an invalid_request whose
// description is printable ASCII.
func FuzzReadForm(f *testing.F) {
	for _, s := range []struct{ body, ct, query string }{
		{"grant_type=client_credentials&scope=a+b", formType, ""},
		{"grant_type=client_credentials&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb&audience=x&audience=y", formType + "; charset=utf-8", ""},
		{"scope=a&scope=b", formType, ""},
		{"%27x%22%0A=1&%27x%22%0A=2", formType, ""},
		{"a&a=&=a&=", formType, ""},
		{"a=%zz", formType, ""},
		{"a=1;b=2", formType, ""},
		{"a=%e9%00", "APPLICATION/X-WWW-FORM-URLENCODED", ""},
		{"a=1", formType + "; charset", ""},
		{"a=1", "application/json", ""},
		{"a=1", "", ""},
		{"a=1", formType, "b=2"},
		{"a=1", formType, "?"},
		{"a=" + strings.Repeat("b", MaxFormBytes-2), formType, ""},
		{"a=" + strings.Repeat("b", MaxFormBytes-1), formType, ""},
		{"", formType, ""},
	} {
		f.Add(s.body, s.ct, s.query)
	}
	f.Fuzz(func(t *testing.T, body, ct, query string) {
		r, oe := readForm(body, ct, query)
		in := Truncate(body, 200)
		mt, _, ctErr := mime.ParseMediaType(ct)
		formed := ctErr == nil && mt == formType && query == ""
		if oe != nil {
			if oe.Status != http.StatusBadRequest && oe.Status != http.StatusRequestEntityTooLarge || oe.Code != "invalid_request" {
				t.Fatalf("ReadForm(%q, %q, %q) = %d %s, want 400 or 413 invalid_request", in, ct, query, oe.Status, oe.Code)
			}
			if d := oe.Description; !printableASCII(d) {
				t.Fatalf("ReadForm(%q, %q, %q) description = %q, want printable ASCII", in, ct, query, d)
			}
			if formed && len(body) > MaxFormBytes && oe.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("ReadForm(%d-byte body) = %d, want 413", len(body), oe.Status)
			}
			return
		}
		if !formed {
			t.Fatalf("ReadForm(%q, %q, %q) accepted, want refused: not a form POST", in, ct, query)
		}
		if len(body) > MaxFormBytes {
			t.Fatalf("ReadForm(%d-byte body) accepted, want 413", len(body))
		}
		for k, v := range r.PostForm {
			if len(v) != 1 && !slices.Contains(tokenRepeatable, k) {
				t.Fatalf("ReadForm(%q) accepted %q %d times, want once", in, k, len(v))
			}
		}
		want, err := url.ParseQuery(body)
		if err != nil || !formEqual(r.PostForm, want) {
			t.Fatalf("ReadForm(%q) PostForm = %s, want url.ParseQuery's %s, %v", in, short(r.PostForm), short(want), err)
		}
		// Encoded again, bytes that came raw are escaped and the form
		// may outgrow the limit.
		again := r.PostForm.Encode()
		r2, oe := readForm(again, formType, "")
		switch {
		case len(again) > MaxFormBytes:
			if oe == nil || oe.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("ReadForm(%d-byte body) = %v, want 413", len(again), oe)
			}
		case oe != nil || !formEqual(r2.PostForm, r.PostForm):
			t.Fatalf("ReadForm(%q) = %s, %v, want %s back", Truncate(again, 200), short(r2.PostForm), oe, short(r.PostForm))
		}
	})
}

// short prints a form for a failure message.
func short(v url.Values) string { return Truncate(fmt.Sprintf("%q", v), 200) }

// formEqual reports whether a and b hold the same values, an empty form
// being equal to a nil one.
func formEqual(a, b url.Values) bool {
	return maps.EqualFunc(a, b, slices.Equal)
}

// FuzzSafeParam: SafeParam keeps at most 40 bytes, each the input's byte
// if it is printable ASCII other than a quote or backslash, '?' if not,
// and a cleaned parameter stays as it is.
func FuzzSafeParam(f *testing.F) {
	for _, s := range []string{"", "client_id", `a'b"c\d`, "a\x00b\nc\x7f", "é", "\xff\xfe", strings.Repeat("x", 39) + "é", strings.Repeat("ab", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SafeParam(in)
		if len(got) != min(len(in), 40) {
			t.Fatalf("SafeParam(%q) = %q, %d bytes, want %d", in, got, len(got), min(len(in), 40))
		}
		if !printableASCII(got) || strings.ContainsAny(got, `'"\`) {
			t.Fatalf("SafeParam(%q) = %q, want printable ASCII without quotes or backslash", in, got)
		}
		for i := range len(got) {
			want := byte('?')
			if c := in[i]; printableASCII(in[i:i+1]) && c != '\'' && c != '"' && c != '\\' {
				want = c
			}
			if got[i] != want {
				t.Fatalf("SafeParam(%q) = %q, byte %d is %q, want %q", in, got, i, got[i], want)
			}
		}
		if again := SafeParam(got); again != got {
			t.Fatalf("SafeParam(%q) = %q, want it unchanged", got, again)
		}
	})
}

func printableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
