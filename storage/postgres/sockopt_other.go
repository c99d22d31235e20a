//go:build !linux

package postgres

import (
	"syscall"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not available:
// keepalives and the callers' deadlines still find dead connections.
func setUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
