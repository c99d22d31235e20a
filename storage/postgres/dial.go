package postgres

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults that make a dead connection (a peer gone without a FIN: a
// network cut, a NAT or load balancer that dropped its state) found and
// discarded within seconds rather than the operating system's hours. Each
// applies only when the URL does not set its own.
const (
	// keepAliveIdle, keepAliveInterval and keepAliveCount are the TCP
	// keepalive probes on both ends: a silent peer is dropped after
	// idle + interval*count, 11 s.
	keepAliveIdle     = 5 * time.Second
	keepAliveInterval = 2 * time.Second
	keepAliveCount    = 3
	// userTimeout (TCP_USER_TIMEOUT, Linux, both ends) drops a connection
	// whose sent data stays unacknowledged this long: statements written
	// into a cut are not delivered, and executed, after the caller gave up
	// on them long ago.
	userTimeout = 10 * time.Second
	// pingTimeout bounds the liveness ping pgxpool sends on a connection
	// that sat idle before handing it out; a dead one is destroyed and the
	// next tried.
	pingTimeout = time.Second
	// healthCheckPeriod and maxConnIdleTime: idle connections are checked
	// every 5 s and closed after a minute unused, so that few idle ones
	// outlive a network incident.
	healthCheckPeriod = 5 * time.Second
	maxConnIdleTime   = time.Minute
)

// tune sets the defaults above on pc where the URL set nothing: the
// dialer's keepalives and user timeout, the server's tcp_keepalives_* and
// tcp_user_timeout (its side of the same connection), and the pool's
// health checks.
func tune(pc *pgxpool.Config, url string) {
	cc := pc.ConnConfig
	d := &net.Dialer{
		Timeout: cc.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount,
		},
		Control: setUserTimeout(userTimeout),
	}
	cc.DialFunc = d.DialContext
	rp := cc.RuntimeParams
	for k, v := range map[string]string{
		"tcp_keepalives_idle":     itoa(keepAliveIdle / time.Second),
		"tcp_keepalives_interval": itoa(keepAliveInterval / time.Second),
		"tcp_keepalives_count":    itoa(keepAliveCount),
		"tcp_user_timeout":        itoa(userTimeout / time.Millisecond),
	} {
		if _, ok := rp[k]; !ok {
			rp[k] = v
		}
	}
	if !urlSets(url, "pool_health_check_period") {
		pc.HealthCheckPeriod = healthCheckPeriod
	}
	if !urlSets(url, "pool_max_conn_idle_time") {
		pc.MaxConnIdleTime = maxConnIdleTime
	}
	if !urlSets(url, "pool_ping_timeout") {
		pc.PingTimeout = pingTimeout
	}
}

// urlSets reports whether the connection string names the parameter
// key (pgx has already removed the pool_* ones from the parsed config).
func urlSets(url, key string) bool { return strings.Contains(url, key) }

func itoa[T ~int | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }
