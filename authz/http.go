package authz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// maxFormBytes bounds the body of the OAuth endpoints.
const maxFormBytes = 64 << 10

type ctxKey int

const requestIDKey ctxKey = iota

// requestIDs hands out request IDs: a random per-process prefix and a
// counter, cheap enough for the hot path and unique across replicas.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func (g *requestIDs) init() {
	var b [6]byte
	_, _ = rand.Read(b[:])
	g.prefix = hex.EncodeToString(b[:]) + "-"
}

func (g *requestIDs) next() string {
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// requestID returns the request ID stored in ctx, or "".
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// statusWriter records the status code for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// middleware gives every request an ID (echoed in X-Request-Id), turns a
// panic into a fixed 500 answer, and writes a debug access log. The log
// holds method, path, status and duration: never headers, query or body.
func (s *Server) middleware(name string, next http.Handler) http.Handler {
	log := s.log.Named(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.reqIDs.next()
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic while serving a request", zap.String("request_id", id), zap.String("path", r.URL.Path), zap.Any("panic", p))
				if sw.status == 0 {
					writeJSONError(sw, http.StatusInternalServerError, "server_error", "The server met an unexpected condition.")
				}
			}
			if s.metrics != nil {
				s.metrics.observe(name, endpointOf(r), max(sw.status, http.StatusOK), time.Since(start))
			}
			if ce := log.Check(zap.DebugLevel, "request"); ce != nil {
				ce.Write(zap.String("request_id", id), zap.String("method", r.Method), zap.String("path", r.URL.Path),
					zap.Int("status", sw.status), zap.Duration("duration", time.Since(start)))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// readForm checks the shape of an OAuth POST and parses its body: POST
// only, form-encoded, no query string, at most maxFormBytes, and no
// parameter more than once (RFC 6749 section 3.1) except the ones that
// may repeat.
func readForm(w http.ResponseWriter, r *http.Request, repeatable ...string) *oauthError {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return newOAuthError(http.StatusMethodNotAllowed, "invalid_request", "The request method must be POST.")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return newOAuthError(http.StatusBadRequest, "invalid_request", "The Content-Type must be application/x-www-form-urlencoded.")
	}
	if r.URL.RawQuery != "" {
		return newOAuthError(http.StatusBadRequest, "invalid_request", "Parameters must be sent in the request body, not in the URL.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newOAuthError(http.StatusRequestEntityTooLarge, "invalid_request", "The request body is larger than 64 KiB.")
		}
		return newOAuthError(http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && !contains(repeatable, k) {
			return newOAuthError(http.StatusBadRequest, "invalid_request", "The parameter '"+safeParam(k)+"' is included more than once.")
		}
	}
	return nil
}

// safeParam shortens and cleans a parameter name before it is echoed.
func safeParam(k string) string {
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

func requestField(ctx context.Context) zap.Field { return zap.String("request_id", requestID(ctx)) }

func clientField(id string) zap.Field { return zap.String("client_id", id) }
