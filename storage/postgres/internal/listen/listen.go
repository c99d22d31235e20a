// Package listen keeps a PostgreSQL LISTEN connection alive: the PostgreSQL
// backend hears through it that another replica changed a client or the
// signing keys.
package listen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listener keeps a LISTEN connection open, telling OnNotify of every
// notification, and reconnects with back-off when the connection fails. A connection silent for every is
// pinged (the answer bounded by listenPingTimeout, or every if shorter):
// one that a network incident left dead (no FIN, no RST, so nothing ever
// arrives) is given up within an interval and a second and replaced.
// Notifications may have been lost while no connection listened: OnUp is
// told (false) when a connection is lost and (true) when a new one
// listens, so that its user can forget what they would have changed.
type Listener struct {
	cfg        Config
	cancel     context.CancelFunc
	done       chan struct{} // closed when run returns
	connected  atomic.Bool
	reconnects atomic.Int64 // connections lost
}

// Config says what a Listener listens to and whom it tells.
type Config struct {
	Conn     *pgx.ConnConfig
	Every    time.Duration // the longest silence before a ping
	Channels []string      // names of NOTIFY channels (SQL identifiers)
	// OnNotify is told of every notification.
	OnNotify func(channel, payload string)
	// OnUp, optional, is told true once a connection listens and false
	// once it is lost.
	OnUp func(up bool)
	// OnError, optional, is told why a connection was lost.
	OnError func(error)
	// OnSilent, optional, is told when the connection did not answer
	// its ping: what broke it (a cut, a NAT that forgot its state) has
	// likely broken the pools' idle connections of the same age too.
	OnSilent func()
}

// Start starts a listener; Stop ends it.
func Start(cfg Config) *Listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{cfg: cfg, cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

// Connected reports whether a connection listens now.
func (l *Listener) Connected() bool { return l.connected.Load() }

// Reconnects counts the connections lost.
func (l *Listener) Reconnects() int64 { return l.reconnects.Load() }

// Stop ends the listener and waits until it has.
func (l *Listener) Stop() {
	l.cancel()
	<-l.done
}

// run listens until ctx is done.
func (l *Listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listenOnce(ctx)
		if l.connected.Swap(false) {
			l.reconnects.Add(1)
			backoff = 100 * time.Millisecond // it worked for a while
		}
		if l.cfg.OnUp != nil {
			l.cfg.OnUp(false)
		}
		if ctx.Err() != nil {
			return
		}
		if l.cfg.OnError != nil {
			l.cfg.OnError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenPingTimeout bounds the answer to the listener's ping: an idle
// connection answers in well under a millisecond.
const listenPingTimeout = time.Second

// errSilent is why a listener gave up a connection that did not answer
// its ping.
var errSilent = errors.New("postgres: listener: the connection did not answer a ping")

func (l *Listener) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg.Conn)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), l.cfg.Every)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	lctx, cancel := context.WithTimeout(ctx, l.cfg.Every)
	_, err = conn.Exec(lctx, "LISTEN "+strings.Join(l.cfg.Channels, "; LISTEN "))
	cancel()
	if err != nil {
		return err
	}
	l.connected.Store(true)
	if l.cfg.OnUp != nil {
		l.cfg.OnUp(true)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.Every)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			// Silence: is the connection still there?
			pctx, cancel := context.WithTimeout(ctx, min(l.cfg.Every, listenPingTimeout))
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if l.cfg.OnSilent != nil && ctx.Err() == nil {
					l.cfg.OnSilent()
				}
				return fmt.Errorf("%w: %w", errSilent, err)
			}
			continue
		}
		l.cfg.OnNotify(n.Channel, n.Payload)
	}
}
