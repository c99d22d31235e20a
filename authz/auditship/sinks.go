package auditship

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage"
)

// SinkConfig configures the sink Open makes.
type SinkConfig struct {
	// URL names the collector: https://host/path (JSON lines POSTed,
	// acknowledged by a 2xx answer) or syslog+tls://host:port (RFC 5424
	// messages over TLS, RFC 5425 framing).
	URL string
	// Token, if set, is sent as a bearer token to an https collector.
	Token string
	// CAFile, if set, holds the PEM CA certificates the collector's
	// certificate must chain to; the system's roots otherwise.
	CAFile string
	// Timeout bounds one delivery; 10 s if zero.
	Timeout time.Duration
}

// Open returns the sink cfg names.
func Open(cfg SinkConfig) (Sink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, errors.New("auditship: the sink must be https://host/path or syslog+tls://host:port, without credentials in it")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("auditship: sink CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auditship: sink CA %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	switch u.Scheme {
	case "https":
		return &httpsSink{url: u.String(), name: u.Scheme + "://" + u.Host + u.Path, token: cfg.Token, client: &http.Client{
			Timeout:   cfg.Timeout,
			Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: nil, MaxIdleConns: 2, IdleConnTimeout: time.Minute},
			// A collector that redirects is misconfigured: never follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}, nil
	case "syslog+tls":
		if u.Port() == "" || u.Path != "" && u.Path != "/" {
			return nil, errors.New("auditship: a syslog sink is syslog+tls://host:port")
		}
		tlsConfig.ServerName = u.Hostname()
		host, _ := os.Hostname()
		return &syslogSink{addr: u.Host, name: u.Scheme + "://" + u.Host, tls: tlsConfig, timeout: cfg.Timeout, hostname: syslogField(host)}, nil
	}
	return nil, fmt.Errorf("auditship: sink scheme %q: want https or syslog+tls", u.Scheme)
}

// line is an entry as one JSON line: the admin API's form of it.
func line(e storage.AuditEntry) ([]byte, error) {
	return json.Marshal(adminapi.AuditEntryOf(e))
}

// httpsSink POSTs entries as JSON lines (application/x-ndjson).
type httpsSink struct {
	url, name, token string
	client           *http.Client
}

func (s *httpsSink) Name() string { return s.name }

func (s *httpsSink) Send(ctx context.Context, entries []storage.AuditEntry) error {
	var body bytes.Buffer
	for _, e := range entries {
		b, err := line(e)
		if err != nil {
			return err
		}
		body.Write(b)
		body.WriteByte('\n')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("auditship: POST to %s: %w", s.name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("auditship: %s answered %d", s.name, resp.StatusCode)
	}
	return nil
}

// syslogSink writes RFC 5424 messages over TLS with RFC 5425 octet
// counting, on one connection kept open. TCP has no acknowledgement of
// its own that the collector processed a message: an entry written just
// before the connection breaks may be lost by the collector, and the
// next delivery starts again where the store says, so the gap closes
// unless the write itself was reported as done. Prefer https where the
// collector can acknowledge.
type syslogSink struct {
	addr, name, hostname string
	tls                  *tls.Config
	timeout              time.Duration

	mu   sync.Mutex
	conn net.Conn
}

func (s *syslogSink) Name() string { return s.name }

// Send writes every entry on the connection, opening it first if needed;
// a failed write closes it, for the next Send to open a new one.
func (s *syslogSink) Send(ctx context.Context, entries []storage.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: s.timeout}, Config: s.tls}
		c, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			return fmt.Errorf("auditship: connect to %s: %w", s.name, err)
		}
		s.conn = c
	}
	var buf bytes.Buffer
	for _, e := range entries {
		msg, err := s.message(e)
		if err != nil {
			return err
		}
		buf.WriteString(strconv.Itoa(len(msg)))
		buf.WriteByte(' ')
		buf.Write(msg)
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.conn.SetWriteDeadline(deadline)
	if _, err := s.conn.Write(buf.Bytes()); err != nil {
		_ = s.conn.Close()
		s.conn = nil
		return fmt.Errorf("auditship: write to %s: %w", s.name, err)
	}
	return nil
}

// message is e as an RFC 5424 message: facility log audit (13), severity
// informational, APP-NAME idvauth, MSGID the entry's type, the seq and
// hash as structured data, and the JSON line as the message.
func (s *syslogSink) message(e storage.AuditEntry) ([]byte, error) {
	b, err := line(e)
	if err != nil {
		return nil, err
	}
	const pri = 13*8 + 6
	j := adminapi.AuditEntryOf(e)
	sd := fmt.Sprintf(`[idvauth@32473 seq="%d" hash="%s" prev_hash="%s"]`, j.Seq, j.Hash, j.PrevHash)
	return fmt.Appendf(nil, "<%d>1 %s %s idvauth - %s %s %s", pri, e.Time.UTC().Format(time.RFC3339Nano), s.hostname,
		syslogField(e.Type), sd, b), nil
}

// syslogField is s as an RFC 5424 header field: printable US-ASCII
// without spaces, at most 32 characters, "-" if empty.
func syslogField(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return '_'
		}
		return r
	}, s)
	if len(s) > 32 {
		s = s[:32]
	}
	if s == "" {
		return "-"
	}
	return s
}
