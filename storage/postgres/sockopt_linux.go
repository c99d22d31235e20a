package postgres

import (
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT (linux/tcp.h, every architecture),
// which package syscall does not define.
const tcpUserTimeout = 18

// setUserTimeout returns a dialer Control that sets TCP_USER_TIMEOUT to d
// on the socket: data left unacknowledged that long ends the connection.
func setUserTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(d/time.Millisecond))
		})
		if err != nil {
			return err
		}
		return serr
	}
}
