// Package framing spots HTTP/1.x requests whose length is ambiguous: a
// head with both Content-Length and Transfer-Encoding, the pattern of
// request smuggling (RFC 9112 sections 6.1 and 11.2).
//
// net/http serves such a request by its Transfer-Encoding and removes the
// Content-Length header before any handler sees it, and keeps the
// connection open; a proxy in front that went by Content-Length then
// sends bytes that net/http reads as a second request. So the raw bytes
// are watched instead: Listen wraps a plain-TCP listener, and its
// connections follow the framing of the requests they carry (heads,
// Content-Length and chunked bodies). A connection on which an ambiguous
// head arrives is marked; a handler asks with Ambiguous (ConnContext must
// be the http.Server's) and refuses, closing the connection.
//
// It cannot see into TLS: wrapping a *tls.Conn would hide it from
// net/http (no r.TLS, no HTTP/2). Use it on plain-HTTP listeners, which
// is where a proxy sits in front.
package framing

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/idvauth/idvauth/authz/internal/web"
)

// Listen wraps l so that its connections watch the framing of the
// requests they carry.
func Listen(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// conn scans what it reads. Read is called by one goroutine at a time
// (net/http's connection reader); ambiguous is read by handlers.
type conn struct {
	net.Conn
	s         scanner
	ambiguous atomic.Bool
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.s.done {
		if c.s.feed(p[:n]) {
			c.ambiguous.Store(true)
		}
	}
	return n, err
}

// CloseWrite half-closes the connection if the wrapped one can: net/http
// does it before closing a connection with unread input, so that the
// client gets the answer rather than a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom writes what r holds to the connection, with the wrapped
// connection's ReadFrom (sendfile, splice) where it has one.
func (c *conn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

type connKey struct{}

// ConnContext is an http.Server ConnContext that makes the connection's
// state available to Ambiguous.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*conn); ok {
		return context.WithValue(ctx, connKey{}, fc)
	}
	return ctx
}

// Ambiguous reports whether a request head with both Content-Length and
// Transfer-Encoding has arrived on the connection of ctx (a request's
// context), this request's or an earlier one's, or one read ahead.
func Ambiguous(ctx context.Context) bool {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c != nil && c.ambiguous.Load()
}

// Scanner states.
const (
	inHead      = iota // request line and header fields
	inBody             // remain bytes of a Content-Length body
	inChunkSize        // a chunk-size line
	inChunkData        // remain bytes of chunk data
	inChunkEnd         // the CRLF after chunk data
	inTrailer          // trailer fields, up to an empty line
)

// maxLine is how much of a line the scanner keeps: enough for the names
// and values it reads; longer lines are kept cut (net/http bounds them).
const maxLine = 128

// scanner follows HTTP/1.x request framing over a byte stream. Once done
// (an ambiguous head, or bytes it cannot frame, which net/http refuses
// and closes on too) it reads no more.
type scanner struct {
	state  int
	done   bool
	line   []byte
	remain int64
	// Of the head being read:
	started, http10, hasCL, hasTE bool
	cl                            int64
}

// feed scans p and reports whether it completed an ambiguous head.
func (s *scanner) feed(p []byte) bool {
	for len(p) > 0 && !s.done {
		switch s.state {
		case inBody, inChunkData:
			n := min(int64(len(p)), s.remain)
			p, s.remain = p[n:], s.remain-n
			if s.remain == 0 {
				if s.state == inBody {
					s.state = inHead
				} else {
					s.state = inChunkEnd
				}
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.keep(p)
			return false
		}
		s.keep(p[:i])
		p = p[i+1:]
		line := bytes.TrimSuffix(s.line, []byte("\r"))
		if s.endLine(line) {
			s.done = true
			return true
		}
		s.line = s.line[:0]
	}
	return false
}

func (s *scanner) keep(b []byte) {
	if room := maxLine - len(s.line); room > 0 {
		s.line = append(s.line, b[:min(len(b), room)]...)
	}
}

// endLine handles one complete line and reports whether it ended an
// ambiguous head.
func (s *scanner) endLine(line []byte) bool {
	switch s.state {
	case inHead:
		return s.headLine(line)
	case inChunkSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		switch {
		case err != nil || n < 0:
			s.done = true
		case n == 0:
			s.state = inTrailer
		default:
			s.state, s.remain = inChunkData, n
		}
	case inChunkEnd:
		if len(line) != 0 {
			s.done = true
		}
		s.state = inChunkSize
	case inTrailer:
		if len(line) == 0 {
			s.state = inHead
		}
	}
	return false
}

func (s *scanner) headLine(line []byte) bool {
	if !s.started {
		if len(line) == 0 {
			return false // blank lines before a request line are skipped
		}
		s.started = true
		s.http10 = bytes.HasSuffix(line, []byte(" HTTP/1.0"))
		if bytes.HasPrefix(line, []byte("PRI ")) { // HTTP/2 preface: not ours
			s.done = true
		}
		return false
	}
	if len(line) == 0 { // end of the head
		ambiguous := s.hasCL && s.hasTE
		switch {
		case ambiguous:
		case s.hasTE && !s.http10: // net/http ignores Transfer-Encoding in HTTP/1.0
			s.state = inChunkSize
		case s.hasCL && s.cl > 0:
			s.state, s.remain = inBody, s.cl
		}
		s.started, s.http10, s.hasCL, s.hasTE, s.cl = false, false, false, false, 0
		return ambiguous
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
		if err != nil || n < 0 || (s.hasCL && n != s.cl) {
			s.done = true // net/http refuses it and closes
			return false
		}
		s.hasCL, s.cl = true, n
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		s.hasTE = true
	}
	return false
}

// Check refuses, with 400 and the connection closed, a request on a
// connection that carried a head with both Content-Length and
// Transfer-Encoding (request smuggling; RFC 9112 section 6.1), and
// returns false. On TLS, which this package cannot watch, it closes the
// connection after any HTTP/1 request with a Transfer-Encoding instead:
// net/http frames it by the Transfer-Encoding (which a proxy in front may
// not have done) and removes any Content-Length before handlers see it,
// so only closing keeps what follows from being read as another request.
func Check(w http.ResponseWriter, r *http.Request) bool {
	if Ambiguous(r.Context()) {
		w.Header().Set("Connection", "close")
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "A request may not carry both Content-Length and Transfer-Encoding.")
		return false
	}
	if r.TLS != nil && r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
	}
	return true
}
