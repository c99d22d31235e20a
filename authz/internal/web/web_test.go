package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// formRequest builds an OAuth-style request; query is the raw query
// string, "" for none.
func formRequest(method, contentType, query, body string) *http.Request {
	target := "/oauth2/token"
	if query != "" {
		target += "?" + query
	}
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

const formType = "application/x-www-form-urlencoded"

func TestReadForm(t *testing.T) {
	for _, tt := range []struct {
		name                    string
		method, ct, query, body string
		repeatable              []string
		status                  int    // 0: accepted
		desc                    string // part of the description
		param, value            string // accepted: one parameter and its value
	}{
		{name: "plain", method: "POST", ct: formType, body: "grant_type=client_credentials&scope=a+b",
			param: "scope", value: "a b"},
		{name: "charset parameter", method: "POST", ct: formType + "; charset=UTF-8", body: "a=1", param: "a", value: "1"},
		{name: "media type is case-insensitive", method: "POST", ct: "Application/X-WWW-Form-URLEncoded", body: "a=1", param: "a", value: "1"},
		{name: "empty body", method: "POST", ct: formType, body: ""},
		{name: "GET", method: "GET", ct: formType, body: "a=1", status: 405, desc: "must be POST"},
		{name: "PUT", method: "PUT", ct: formType, body: "a=1", status: 405, desc: "must be POST"},
		{name: "no content type", method: "POST", body: "a=1", status: 400, desc: "Content-Type"},
		{name: "JSON", method: "POST", ct: "application/json", body: `{"a":1}`, status: 400, desc: "Content-Type"},
		{name: "multipart", method: "POST", ct: "multipart/form-data; boundary=x", body: "a=1", status: 400, desc: "Content-Type"},
		{name: "malformed content type", method: "POST", ct: formType + "; charset", body: "a=1", status: 400, desc: "Content-Type"},
		{name: "query string", method: "POST", ct: formType, query: "client_secret=s", body: "a=1", status: 400, desc: "not in the URL"},
		{name: "at the limit", method: "POST", ct: formType, body: "a=" + strings.Repeat("b", MaxFormBytes-2),
			param: "a", value: strings.Repeat("b", MaxFormBytes-2)},
		{name: "too large", method: "POST", ct: formType, body: "a=" + strings.Repeat("b", MaxFormBytes-1), status: 413, desc: "larger than 64 KiB"},
		{name: "bad escape", method: "POST", ct: formType, body: "a=%zz", status: 400, desc: "not a valid form"},
		{name: "semicolon", method: "POST", ct: formType, body: "a=1;b=2", status: 400, desc: "not a valid form"},
		{name: "repeated", method: "POST", ct: formType, body: "scope=a&scope=b", status: 400, desc: "'scope' is included more than once"},
		{name: "repeated, empty values", method: "POST", ct: formType, body: "a&a", status: 400, desc: "'a' is included more than once"},
		{name: "repeated name is cleaned", method: "POST", ct: formType, body: "%27x%22%0A=1&%27x%22%0A=2", status: 400,
			desc: "'?x??' is included more than once"},
		{name: "repeatable", method: "POST", ct: formType, body: "resource=x&resource=y&a=1", repeatable: []string{"audience", "resource"},
			param: "a", value: "1"},
		{name: "repeated beside a repeatable", method: "POST", ct: formType, body: "resource=x&scope=a&scope=b",
			repeatable: []string{"resource"}, status: 400, desc: "'scope' is included more than once"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := formRequest(tt.method, tt.ct, tt.query, tt.body)
			w := httptest.NewRecorder()
			oe := ReadForm(w, r, tt.repeatable...)
			in := Truncate(tt.method+" "+tt.ct+" ?"+tt.query+" "+tt.body, 80)
			if tt.status == 0 {
				if oe != nil {
					t.Fatalf("ReadForm(%q) = %v, want nil", in, oe)
				}
				if tt.param != "" {
					if got := r.PostForm[tt.param]; len(got) != 1 || got[0] != tt.value {
						t.Errorf("ReadForm(%q): PostForm[%q] = %q, want [%q]", in, tt.param, Truncate(strings.Join(got, ","), 40), Truncate(tt.value, 40))
					}
				}
				return
			}
			if oe == nil || oe.Status != tt.status || oe.Code != "invalid_request" || !strings.Contains(oe.Description, tt.desc) {
				t.Fatalf("ReadForm(%q) = %+v, want %d invalid_request with %q", in, oe, tt.status, tt.desc)
			}
			if got := w.Header().Get("Allow"); (tt.status == 405) != (got == "POST") {
				t.Errorf("ReadForm(%q): Allow = %q, want POST only on 405", in, got)
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	type target struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	// Every body that is refused carries s3cret: no description may echo it.
	for _, tt := range []struct {
		name, ct, body string
		want           target
		status         int    // 0: accepted
		desc           string // part of the description
	}{
		{name: "plain", ct: "application/json", body: `{"name":"a","n":2}`, want: target{"a", 2}},
		{name: "charset parameter", ct: "application/json; charset=utf-8", body: `{"name":"a"}`, want: target{Name: "a"}},
		{name: "trailing white space", ct: "application/json", body: "{\"n\":1}\n \t\r\n", want: target{N: 1}},
		{name: "null", ct: "application/json", body: `null`},
		{name: "no content type", body: `{"name":"s3cret"}`, status: 415, desc: "application/json"},
		{name: "text", ct: "text/plain", body: `{"name":"s3cret"}`, status: 415, desc: "application/json"},
		{name: "form", ct: formType, body: `name=s3cret`, status: 415, desc: "application/json"},
		{name: "unknown field", ct: "application/json", body: `{"name":"s3cret","extra":1}`, status: 400, desc: `unknown field "extra"`},
		{name: "two values", ct: "application/json", body: `{"name":"s3cret"} {}`, status: 400, desc: "exactly one JSON value"},
		{name: "trailing data", ct: "application/json", body: `{"name":"s3cret"}x`, status: 400, desc: "exactly one JSON value"},
		{name: "trailing bracket", ct: "application/json", body: `{"name":"s3cret"}]`, status: 400, desc: "exactly one JSON value"},
		{name: "too large", ct: "application/json", body: `{"name":"s3cret` + strings.Repeat("x", MaxJSONBytes) + `"}`,
			status: 413, desc: "larger than 64 KiB"},
		{name: "wrong type", ct: "application/json", body: `{"name":"s3cret","n":"1"}`, status: 400, desc: `field "n" has the wrong type`},
		{name: "wrong top-level type", ct: "application/json", body: `["s3cret"]`, status: 400, desc: "has the wrong type"},
		{name: "empty", ct: "application/json", body: "", status: 400, desc: "empty or cut short"},
		{name: "cut short", ct: "application/json", body: `{"name":"s3cret`, status: 400, desc: "empty or cut short"},
		{name: "syntax error", ct: "application/json", body: `{"name":"s3cret" 1}`, status: 400, desc: "syntax error at byte 18"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/admin/clients", strings.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			var got target
			err := DecodeJSON(httptest.NewRecorder(), r, &got)
			in := Truncate(tt.ct+" "+tt.body, 80)
			if tt.status == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("DecodeJSON(%q) = %+v, %v, want %+v, nil", in, got, err, tt.want)
				}
				return
			}
			var oe *Error
			if !errors.As(err, &oe) || oe.Status != tt.status || oe.Code != "invalid_request" || !strings.Contains(oe.Description, tt.desc) {
				t.Fatalf("DecodeJSON(%q) = %v, want %d invalid_request with %q", in, err, tt.status, tt.desc)
			}
			if strings.Contains(oe.Description, "s3cret") {
				t.Errorf("DecodeJSON(%q) = %q, want a description without the body", in, oe.Description)
			}
		})
	}
}

func TestSafeParam(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"plain", "client_id", "client_id"},
		{"quotes and backslash", `a'b"c\d`, "a?b?c?d"},
		{"control characters", "a\x00b\nc\x7f", "a?b?c?"},
		{"space is kept", "a b", "a b"},
		{"non-ASCII byte by byte", "é", "??"},
		{"at 40", strings.Repeat("x", 40), strings.Repeat("x", 40)},
		{"cut at 40", strings.Repeat("x", 39) + "yz", strings.Repeat("x", 39) + "y"},
		{"cut inside a rune", strings.Repeat("x", 39) + "é", strings.Repeat("x", 39) + "?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeParam(tt.in); got != tt.want {
				t.Errorf("SafeParam(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	for _, tt := range []struct {
		name       string
		status     int
		code, desc string
		preset     string // WWW-Authenticate set before
		wantAuth   string
		wantBody   string
	}{
		{name: "400", status: 400, code: "invalid_request", desc: "Bad.",
			wantBody: `{"error":"invalid_request","error_description":"Bad."}`},
		{name: "no description", status: 400, code: "invalid_grant",
			wantBody: `{"error":"invalid_grant"}`},
		{name: "401 gets Basic", status: 401, code: "invalid_client", desc: "No.",
			wantAuth: `Basic realm="idvauth"`, wantBody: `{"error":"invalid_client","error_description":"No."}`},
		{name: "401 keeps its challenge", status: 401, code: "invalid_token", preset: `Bearer error="invalid_token"`,
			wantAuth: `Bearer error="invalid_token"`, wantBody: `{"error":"invalid_token"}`},
		{name: "403 has no challenge", status: 403, code: "access_denied",
			wantBody: `{"error":"access_denied"}`},
		{name: "description is JSON-escaped", status: 400, code: "invalid_request", desc: `a "b" <c>`,
			wantBody: `{"error":"invalid_request","error_description":"a \"b\" \u003cc\u003e"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if tt.preset != "" {
				w.Header().Set("WWW-Authenticate", tt.preset)
			}
			WriteError(w, tt.status, tt.code, tt.desc)
			call := "WriteError(" + tt.name + ")"
			if w.Code != tt.status {
				t.Errorf("%s status = %d, want %d", call, w.Code, tt.status)
			}
			for _, h := range []struct{ name, got, want string }{
				{"Content-Type", w.Header().Get("Content-Type"), "application/json;charset=UTF-8"},
				{"Cache-Control", w.Header().Get("Cache-Control"), "no-store"},
				{"WWW-Authenticate", w.Header().Get("WWW-Authenticate"), tt.wantAuth},
			} {
				if h.got != h.want {
					t.Errorf("%s %s = %q, want %q", call, h.name, h.got, h.want)
				}
			}
			if got := strings.TrimSpace(w.Body.String()); got != tt.wantBody {
				t.Errorf("%s body = %s, want %s", call, got, tt.wantBody)
			}
		})
	}
}

func TestErrorWrite(t *testing.T) {
	w := httptest.NewRecorder()
	NewError(http.StatusUnauthorized, "invalid_client", "Who?").Write(w)
	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 401 || got["error"] != "invalid_client" ||
		got["error_description"] != "Who?" || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("Error.Write = %d %s %v, want 401 invalid_client with a challenge", w.Code, w.Body, w.Header())
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want string
	}{
		{0, "1"}, {-time.Second, "1"}, {time.Millisecond, "1"}, {time.Second, "1"},
		{1500 * time.Millisecond, "2"}, {time.Minute, "60"},
	} {
		if got := RetryAfter(tt.wait); got != tt.want {
			t.Errorf("RetryAfter(%v) = %q, want %q", tt.wait, got, tt.want)
		}
	}
}

func TestStatusWriter(t *testing.T) {
	for _, tt := range []struct {
		name  string
		do    func(w http.ResponseWriter)
		want  int
		wrote int // status the wrapped writer got
	}{
		{"nothing", func(http.ResponseWriter) {}, 0, 200},
		{"implicit 200", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "x") }, 200, 200},
		{"explicit", func(w http.ResponseWriter) { w.WriteHeader(404) }, 404, 404},
		{"first status wins", func(w http.ResponseWriter) { w.WriteHeader(404); w.WriteHeader(500) }, 404, 404},
		{"write after status", func(w http.ResponseWriter) { w.WriteHeader(201); _, _ = io.WriteString(w, "x") }, 201, 201},
		{"status after write", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "x"); w.WriteHeader(500) }, 200, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			sw := &StatusWriter{ResponseWriter: rec}
			tt.do(sw)
			if sw.Status != tt.want || rec.Code != tt.wrote {
				t.Errorf("StatusWriter(%s).Status = %d (wrapped %d), want %d (wrapped %d)", tt.name, sw.Status, rec.Code, tt.want, tt.wrote)
			}
		})
	}

	t.Run("Unwrap", func(t *testing.T) {
		rec := httptest.NewRecorder()
		sw := &StatusWriter{ResponseWriter: rec}
		if got := sw.Unwrap(); got != rec {
			t.Errorf("Unwrap() = %T, want the wrapped recorder", got)
		}
		if err := http.NewResponseController(sw).Flush(); err != nil || !rec.Flushed {
			t.Errorf("ResponseController(StatusWriter).Flush() = %v (flushed %v), want it to reach the recorder", err, rec.Flushed)
		}
	})
}

func TestDevice(t *testing.T) {
	for _, tt := range []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (Android 14; Mobile; rv:131.0) Gecko/131.0 Firefox/131.0", "Firefox on Android"},
		{"Go-http-client/1.1", "A browser"},
		{"", "A browser"},
		{"curl/8.5.0 (x86_64-pc-linux-gnu) Linux", "A browser on Linux"},
	} {
		if got := Device(tt.ua); got != tt.want {
			t.Errorf("Device(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}

func TestRecorder(t *testing.T) {
	rec := NewRecorder()
	if rec.Status() != http.StatusOK || len(rec.Body()) != 0 {
		t.Fatalf("empty recorder: %d %q", rec.Status(), rec.Body())
	}
	rec.Header().Set("X-A", "1")
	rec.WriteHeader(http.StatusAccepted)
	rec.WriteHeader(http.StatusTeapot) // the first status stays
	_, _ = rec.Write([]byte("ok"))
	if rec.Status() != http.StatusAccepted || string(rec.Body()) != "ok" || rec.Header().Get("X-A") != "1" {
		t.Fatalf("recorder: %d %q %v", rec.Status(), rec.Body(), rec.Header())
	}
}
