package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds a whole call (connect, send, read the
	// answer) when Config.HTTPClient is nil.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxAnswerBytes bounds the answer body read when
	// Config.MaxAnswerBytes is 0. The largest answers are a person's
	// export and a page of 1000 audit entries, well under it.
	DefaultMaxAnswerBytes = 16 << 20
)

// Config is what New needs to build a Client.
type Config struct {
	// BaseURL is where the admin listener answers, such as
	// http://127.0.0.1:8081: an http or https URL with a host. A trailing
	// slash is dropped; the routes (/admin/clients, ...) are appended.
	// Required.
	BaseURL string
	// Token is the bearer token sent with every request. It never
	// appears in an error. Required unless TokenSource is set.
	Token string
	// TokenSource, if set, gives the bearer token of each request instead
	// (an operator's token from idvauth login, refreshed as it expires).
	TokenSource func(ctx context.Context) (string, error)
	// HTTPClient sends the requests; nil means one with DefaultTimeout.
	HTTPClient *http.Client
	// MaxAnswerBytes bounds the body read from one answer; 0 means
	// DefaultMaxAnswerBytes. A larger answer is an error.
	MaxAnswerBytes int64
}

// Errors of New.
var (
	ErrBaseURL = errors.New("adminapi: the base URL is not an http(s) URL with a host")
	ErrNoToken = errors.New("adminapi: no bearer token")
)

// Client calls the admin API. Build one with New: the zero value has no
// server to call. A Client is safe for concurrent use.
//
// Each method calls one route. Methods that get an answer return it
// decoded and as sent (the raw JSON, byte for byte, for callers that show
// it). Their errors are an *Error when the server refused; otherwise the
// server was not reached, or its answer was too large or not the JSON
// expected. A call that the server held for a second operator's
// approval (four-eyes) fails with a *Pending.
type Client struct {
	base  string // without a trailing slash
	shown string // base for error messages, any password redacted
	token string
	src   func(ctx context.Context) (string, error)
	http  *http.Client
	max   int64
}

// New returns a client for the admin API that cfg names. Its errors
// wrap ErrBaseURL or ErrNoToken.
func New(cfg Config) (*Client, error) {
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrBaseURL, cfg.BaseURL)
	}
	if cfg.Token == "" && cfg.TokenSource == nil {
		return nil, ErrNoToken
	}
	c := &Client{base: base, shown: u.Redacted(), token: cfg.Token, src: cfg.TokenSource, http: cfg.HTTPClient, max: cfg.MaxAnswerBytes}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	if c.max <= 0 {
		c.max = DefaultMaxAnswerBytes
	}
	return c, nil
}

// Error is a refusal of the admin API: an answer whose status is not
// 2xx. Code and Description are its {"error", "error_description"}; when
// the body is not that (a proxy's error page, say), Code is the status
// text and Description is empty.
type Error struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// Error reads "admin API: CODE: DESCRIPTION (HTTP STATUS)".
func (e *Error) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("admin API: %s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("admin API: %s: %s (HTTP %d)", e.Code, e.Description, e.Status)
}

// errAnswer is the error of an answer that is not the JSON expected.
func errAnswer(err error) error { return fmt.Errorf("unexpected admin API answer: %w", err) }

// do sends method path?query with body as JSON (none if nil) and returns
// the body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("adminapi: encode the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("adminapi: %s %s: %w", method, path, err)
	}
	token := c.token
	if c.src != nil {
		if token, err = c.src(ctx); err != nil {
			return nil, err
		}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API at %s: %w", c.shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, c.max+1))
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(out, e) != nil || e.Code == "" {
			*e = Error{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode)}
		}
		return nil, e
	}
	if err != nil {
		return nil, fmt.Errorf("read admin API answer: %w", err)
	}
	if int64(len(out)) > c.max {
		return nil, fmt.Errorf("unexpected admin API answer: larger than %d bytes", c.max)
	}
	if resp.StatusCode == http.StatusAccepted {
		// Held for a second operator (four-eyes): not done yet.
		p := &Pending{Raw: out}
		if err := json.Unmarshal(out, &p.Request); err != nil {
			return nil, errAnswer(err)
		}
		return nil, p
	}
	return out, nil
}

// unwrapURLError drops the *url.Error around a transport error: its text
// repeats the method and URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// call is do with the answer decoded into a T, and returned as sent too.
func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, body any) (T, []byte, error) {
	var v T
	raw, err := c.do(ctx, method, path, query, body)
	if err != nil {
		return v, nil, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, nil, errAnswer(err)
	}
	return v, raw, nil
}

// route is the path of a route with one ID in it: /admin/{kind}/{id}
// followed by the rest.
func route(kind, id string, rest ...string) string {
	return "/admin/" + kind + "/" + url.PathEscape(id) + strings.Join(rest, "")
}
