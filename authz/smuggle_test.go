package authz_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz"
)

// exchange writes each step to conn and reads one answer after each but
// the last; after the last it reads answers until the server closes the
// connection, and fails if it does not within a few seconds.
func exchange(t testing.TB, conn net.Conn, steps ...string) []*http.Response {
	t.Helper()
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	var answers []*http.Response
	read := func() error {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answers = append(answers, resp)
		return nil
	}
	for i, step := range steps {
		if _, err := io.WriteString(conn, step); err != nil {
			t.Fatal(err)
		}
		if i < len(steps)-1 {
			if err := read(); err != nil {
				t.Fatalf("answer to step %d: %v", i+1, err)
			}
		}
	}
	for {
		err := read()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server kept the connection open after %d answers", len(answers))
		}
		return answers
	}
}

const (
	liveRequest  = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
	closeRequest = "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	// bothLengths carries a chunked body and, counted by its
	// Content-Length, a smuggled liveRequest after it.
	bothLengths = "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + liveRequest
)

// TestRequestWithBothLengthsRefused: a request with both Content-Length
// and Transfer-Encoding (the request-smuggling pattern, RFC 9112 section
// 6.1) gets 400 and the connection is closed, so nothing after it on the
// connection is read as another request. Requests with one of them are
// served on a connection that stays open.
func TestRequestWithBothLengthsRefused(t *testing.T) {
	ts := startServer(t, authz.Config{}, serverOptions{NoDemo: true})
	addr := strings.TrimPrefix(ts.Public, "http://")
	tests := []struct {
		name   string
		steps  []string
		status []int // of each answer
	}{
		{"both, then a smuggled request", []string{bothLengths}, []int{400}},
		{"both, Transfer-Encoding first, lower case",
			[]string{"POST /oauth2/revoke HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n" + liveRequest}, []int{400}},
		{"both, after a good request", []string{liveRequest, bothLengths}, []int{200, 400}},
		{"both, on the admin listener", nil, []int{400}},
		{"chunked only", []string{"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + closeRequest}, []int{400, 200}},
		{"Content-Length only", []string{"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: 0\r\n\r\n" + closeRequest}, []int{400, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			to, steps := addr, tt.steps
			if steps == nil {
				to, steps = strings.TrimPrefix(ts.Admin, "http://"), []string{strings.Replace(bothLengths, "/oauth2/token", "/admin/clients", 1)}
			}
			conn, err := net.Dial("tcp", to)
			if err != nil {
				t.Fatal(err)
			}
			answers := exchange(t, conn, steps...)
			if len(answers) != len(tt.status) {
				t.Fatalf("answers = %d, want %d", len(answers), len(tt.status))
			}
			for i, resp := range answers {
				if resp.StatusCode != tt.status[i] {
					t.Errorf("answer %d = %d, want %d", i+1, resp.StatusCode, tt.status[i])
				}
			}
			if last := answers[len(answers)-1]; last.StatusCode == 400 && !last.Close {
				t.Error("the refusal does not say Connection: close")
			}
		})
	}
}

// TestChunkedOverTLSClosesConnection: on the TLS listener, where the raw
// request is out of sight, a request with a Transfer-Encoding is answered
// and the connection closed, so a smuggled request after it is not read.
func TestChunkedOverTLSClosesConnection(t *testing.T) {
	e := newTLSEnv(t)
	ts := startServer(t, authz.Config{TLSCertFile: e.certFile, TLSKeyFile: e.keyFile}, serverOptions{NoDemo: true})
	conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.Public, "https://"), &tls.Config{RootCAs: e.roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	answers := exchange(t, conn, liveRequest, bothLengths)
	if len(answers) != 2 || answers[0].StatusCode != 200 || !answers[1].Close {
		t.Fatalf("answers = %d (%v), want 2: the first 200, the second closing the connection", len(answers), answers)
	}
}
