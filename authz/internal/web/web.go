// Package web holds the HTTP pieces every idvauth handler shares: request
// IDs, the JSON error shape of the OAuth endpoints and the admin API,
// strict form and JSON reading, and a status-recording ResponseWriter. It
// keeps no server state.
package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// MaxFormBytes bounds the body of the OAuth endpoints and of page forms.
const MaxFormBytes = 64 << 10

// MaxJSONBytes bounds a JSON request body of the admin API.
const MaxJSONBytes = 64 << 10

type ctxKey struct{}

// RequestIDs hands out request IDs: a random per-process prefix and a
// counter, cheap enough for the hot path and unique across replicas. Build
// it with NewRequestIDs; it is safe for concurrent use.
type RequestIDs struct {
	prefix string
	n      atomic.Uint64
}

// NewRequestIDs returns a generator with a fresh random prefix.
func NewRequestIDs() *RequestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &RequestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// Next returns a new request ID.
func (g *RequestIDs) Next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// WithRequestID returns ctx carrying the request ID id, for logs and audit
// entries of everything that request causes.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID returns the request ID ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// RequestField is the log field of ctx's request ID.
func RequestField(ctx context.Context) zap.Field { return zap.String("request_id", RequestID(ctx)) }

// StatusWriter records the status code of an answer.
type StatusWriter struct {
	http.ResponseWriter
	// Status is the status written, 0 until something is.
	Status int
	// RetryAfter, if set, is the Retry-After of a 503 answer that sets
	// none itself.
	RetryAfter string
}

// WriteHeader records code and passes it on.
func (w *StatusWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	if code == http.StatusServiceUnavailable && w.RetryAfter != "" && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", w.RetryAfter)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Error is an RFC 6749 error answer; the admin API answers in the same
// shape.
type Error struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Header, if set, is added to the answer (a WWW-Authenticate
	// challenge, a DPoP-Nonce).
	Header http.Header `json:"-"`
}

// NewError returns the error answer status, code, desc.
func NewError(status int, code, desc string) *Error {
	return &Error{Status: status, Code: code, Description: desc}
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// Write answers e.
func (e *Error) Write(w http.ResponseWriter) {
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	WriteError(w, e.Status, e.Code, e.Description)
}

// WriteError writes {"error","error_description"} with status, not to be
// cached. A 401 without a WWW-Authenticate header gets the Basic one.
func WriteError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Basic realm="idvauth"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Error{Code: code, Description: desc})
}

// WriteServerError answers the fixed 500 server_error.
func WriteServerError(w http.ResponseWriter) {
	WriteError(w, http.StatusInternalServerError, "server_error", "The server met an unexpected condition.")
}

// WriteUnavailable answers 503 temporarily_unavailable with desc.
func WriteUnavailable(w http.ResponseWriter, desc string) {
	WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", desc)
}

// RetryAfter is the Retry-After value for a wait: whole seconds, at least 1.
func RetryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// WriteRateLimited answers 429 with Retry-After and an RFC 6749-style body.
func WriteRateLimited(w http.ResponseWriter, wait time.Duration, desc string) {
	w.Header().Set("Retry-After", RetryAfter(wait))
	WriteError(w, http.StatusTooManyRequests, "too_many_requests", desc)
}

// ReadForm checks the shape of an OAuth POST and parses its body: POST
// only, form-encoded, no query string, at most MaxFormBytes, and no
// parameter more than once (RFC 6749 section 3.1) except the ones that
// may repeat.
func ReadForm(w http.ResponseWriter, r *http.Request, repeatable ...string) *Error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return NewError(http.StatusMethodNotAllowed, "invalid_request", "The request method must be POST.")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return NewError(http.StatusBadRequest, "invalid_request", "The Content-Type must be application/x-www-form-urlencoded.")
	}
	if r.URL.RawQuery != "" {
		return NewError(http.StatusBadRequest, "invalid_request", "Parameters must be sent in the request body, not in the URL.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return NewError(http.StatusRequestEntityTooLarge, "invalid_request", "The request body is larger than 64 KiB.")
		}
		return NewError(http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && !slices.Contains(repeatable, k) {
			return NewError(http.StatusBadRequest, "invalid_request", "The parameter '"+SafeParam(k)+"' is included more than once.")
		}
	}
	return nil
}

// SafeParam shortens and cleans a parameter name or value before it is
// echoed in an error description.
func SafeParam(k string) string {
	out := make([]byte, 0, min(len(k), 40))
	for i := 0; i < len(k) && len(out) < 40; i++ {
		c := k[i]
		if c >= 0x20 && c < 0x7f && c != '\'' && c != '"' && c != '\\' {
			out = append(out, c)
		} else {
			out = append(out, '?')
		}
	}
	return string(out)
}

// DecodeJSON reads a JSON body strictly into v: JSON content type, at most
// MaxJSONBytes, no unknown fields, exactly one value. Its errors are
// *Error answers that never echo the input.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return NewError(http.StatusUnsupportedMediaType, "invalid_request", "The Content-Type must be application/json.")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return NewError(http.StatusRequestEntityTooLarge, "invalid_request", "The request body is larger than 64 KiB.")
		}
		return NewError(http.StatusBadRequest, "invalid_request", "The body is not valid JSON for this endpoint: "+jsonErrText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return NewError(http.StatusBadRequest, "invalid_request", "The body must hold exactly one JSON value.")
	}
	return nil
}

// jsonErrText describes a decoding error without echoing the input.
func jsonErrText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short"
	}
	return "malformed JSON"
}

// WriteJSON answers v as indented JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// MethodNotAllowed answers 405 with the allowed methods.
func MethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Allowed methods: "+allow+".")
}

// Truncate cuts s to n bytes, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// LogFosite logs an error fosite answered with: server errors at error
// level with their wrapped cause, the rest at debug.
func LogFosite(ctx context.Context, log *zap.Logger, endpoint string, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		log.Error("request failed", zap.String("endpoint", endpoint), zap.String("request_id", RequestID(ctx)),
			zap.String("error", rfc.ErrorField), zap.String("cause", rfc.GetDescription()+" "+rfc.DebugField), zap.NamedError("wrapped", rfc.Unwrap()))
		return
	}
	if ce := log.Check(zap.DebugLevel, "request refused"); ce != nil {
		ce.Write(zap.String("endpoint", endpoint), zap.String("request_id", RequestID(ctx)), zap.String("error", rfc.ErrorField))
	}
}

// Random returns n random bytes, base64url-encoded: the one source of
// random identifiers and secrets (session cookies, CSRF tokens, jti,
// client secrets, user IDs).
func Random(n int) string {
	raw := make([]byte, n)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails (Go 1.24 and later)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// RandomToken returns 256 random bits, base64url-encoded (43 characters).
func RandomToken() string { return Random(32) }

// AllowGet answers 405 to anything but GET and HEAD.
func AllowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "The request method must be GET.")
	return false
}

// MiddlewareConfig configures Middleware.
type MiddlewareConfig struct {
	// Name names the listener in logs.
	Name string
	Log  *zap.Logger
	IDs  *RequestIDs
	// Guard, if set, may answer a request itself (returning false)
	// before the handler sees it.
	Guard func(http.ResponseWriter, *http.Request) bool
	// Observe, if set, is told every answer's status and duration, and
	// whether the request's deadline had passed by then.
	Observe func(r *http.Request, status int, d time.Duration, deadlinePassed bool)
	// Deadline, if positive, bounds every request's context: what the
	// request waits for (the store above all) gives up then, and the
	// answer is an error rather than a hang. A 503 answer without its
	// own Retry-After gets one of Deadline (whole seconds, at least 1).
	Deadline time.Duration
}

// Middleware gives every request an ID (echoed in X-Request-Id) and its
// deadline, turns a panic into a fixed 500 answer, and writes a debug
// access log. The log holds method, path, status and duration: never
// headers, query or body.
func Middleware(cfg MiddlewareConfig, next http.Handler) http.Handler {
	retryAfter := ""
	if cfg.Deadline > 0 {
		retryAfter = RetryAfter(cfg.Deadline)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := cfg.IDs.Next()
		w.Header().Set("X-Request-Id", id)
		ctx := WithRequestID(r.Context(), id)
		if cfg.Deadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, cfg.Deadline)
			defer cancel()
		}
		r = r.WithContext(ctx)
		sw := &StatusWriter{ResponseWriter: w, RetryAfter: retryAfter}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				cfg.Log.Error("panic while serving a request", zap.String("request_id", id), zap.String("path", r.URL.Path), zap.Any("panic", p))
				if sw.Status == 0 {
					WriteServerError(sw)
				}
			}
			if cfg.Observe != nil {
				cfg.Observe(r, max(sw.Status, http.StatusOK), time.Since(start), errors.Is(ctx.Err(), context.DeadlineExceeded))
			}
			if ce := cfg.Log.Check(zap.DebugLevel, "request"); ce != nil {
				fields := []zap.Field{zap.String("request_id", id), zap.String("method", r.Method), zap.String("path", r.URL.Path),
					zap.Int("status", sw.Status), zap.Duration("duration", time.Since(start))}
				if sc := trace.SpanContextFromContext(r.Context()); sc.HasTraceID() {
					fields = append(fields, zap.String("trace_id", sc.TraceID().String()))
				}
				ce.Write(fields...)
			}
		}()
		if cfg.Guard != nil && !cfg.Guard(sw, r) {
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// HSTS sets Strict-Transport-Security (RFC 6797) with maxAge on every
// answer to a request that came over TLS, when maxAge is positive. Never
// on plain HTTP: a browser ignores it there, and behind a proxy that ends
// TLS the proxy is the one to send it.
func HSTS(maxAge time.Duration, next http.Handler) http.Handler {
	if maxAge <= 0 {
		return next
	}
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", value)
		}
		next.ServeHTTP(w, r)
	})
}
