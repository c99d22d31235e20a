package framing

import (
	"io"
	"net"
	"strings"
	"testing"
)

const get = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"

func TestScanner(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   bool
	}{
		{"one GET", get, false},
		{"both headers", "POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
		{"both, other order and case", "POST /t HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-LENGTH: 5\r\n\r\n", true},
		{"both in HTTP/1.0", "POST /t HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both with bare LF", "POST /t HTTP/1.1\nContent-Length: 5\nTransfer-Encoding: chunked\n\n", true},
		{"both, after a Content-Length request",
			"POST /t HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world" + "POST /t HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both, after a chunked request with a trailer",
			"POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n" +
				"POST /t HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both, after blank lines", "\r\n\r\nPOST /t HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"header names in a Content-Length body", "POST /t HTTP/1.1\r\nContent-Length: 57\r\n\r\n" +
			"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n01234567" + get, false},
		{"header names in chunk data", "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n31\r\n" +
			"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\r\n0\r\n\r\n" + get, false},
		{"chunked only", "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get, false},
		{"Content-Length only", "POST /t HTTP/1.1\r\nContent-Length: 0\r\n\r\n" + get, false},
		{"names in the request line", "GET /Content-Length:5/Transfer-Encoding:chunked HTTP/1.1\r\n\r\n", false},
		{"bad chunk size stops", "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" +
			"POST /t HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"HTTP/2 preface stops", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"long header line", "GET / HTTP/1.1\r\nX-Long: " + strings.Repeat("a", 4000) + "\r\nContent-Length: 0\r\n\r\n" + get, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and a byte at a time: reads split anywhere.
			var whole scanner
			if got := whole.feed([]byte(tt.stream)); got != tt.want {
				t.Errorf("feed(whole) = %v, want %v", got, tt.want)
			}
			var bytewise scanner
			got := false
			for i := range len(tt.stream) {
				got = bytewise.feed([]byte{tt.stream[i]}) || got
			}
			if got != tt.want {
				t.Errorf("feed(byte by byte) = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzScanner: any stream, split anywhere, gives the same answer and
// never panics.
func FuzzScanner(f *testing.F) {
	f.Add("POST /t HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 7)
	f.Add("POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+get, 3)
	f.Fuzz(func(t *testing.T, stream string, cut int) {
		var a, b scanner
		want := a.feed([]byte(stream))
		cut = min(max(cut, 0), len(stream))
		got := b.feed([]byte(stream[:cut]))
		got = b.feed([]byte(stream[cut:])) || got
		if got != want {
			t.Fatalf("split at %d: %v, whole: %v", cut, got, want)
		}
	})
}

// TestConnKeepsUpgrades: the wrapped connection still offers what
// net/http looks for on a TCP connection.
func TestConnKeepsUpgrades(t *testing.T) {
	var c net.Conn = &conn{}
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		t.Error("conn has no CloseWrite: net/http would close with unread input at once, and the client may get a reset")
	}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Error("conn is no io.ReaderFrom")
	}
}
