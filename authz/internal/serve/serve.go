// Package serve runs the server's HTTP listeners and background loops and
// shuts them down: every listener gets bounded timeouts, and on the end of
// the context the loops stop first, then in-flight requests get a bounded
// time to finish.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/framing"
)

// Timeouts of the HTTP servers Run starts.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
	// ShutdownTimeout bounds how long Run waits for in-flight requests.
	ShutdownTimeout = 20 * time.Second
	// AdminDeadline bounds an admin API request, which may read much
	// (the whole audit trail to verify it): long, but short of the write
	// timeout, so that a stuck request is answered rather than cut off.
	AdminDeadline = writeTimeout - 5*time.Second
)

// Listener is one listener and what it serves.
type Listener struct {
	Name     string
	Listener net.Listener
	Handler  http.Handler
	// TLS, if set, makes the listener serve HTTPS.
	TLS *tls.Config
}

// Run serves every listener and runs every loop until ctx is done (or a
// listener fails: that error is returned), then stops the loops, lets
// in-flight requests finish (at most ShutdownTimeout) and returns.
func Run(ctx context.Context, log *zap.Logger, listeners []Listener, loops ...func(context.Context)) error {
	servers := make([]*http.Server, len(listeners))
	errc := make(chan error, len(listeners))
	for i, l := range listeners {
		srv := &http.Server{
			Handler:           l.Handler,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          zap.NewStdLog(log.Named(l.Name)),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
			ConnContext:       framing.ConnContext,
			TLSConfig:         l.TLS,
		}
		servers[i] = srv
		go func() {
			var err error
			if l.TLS != nil {
				err = srv.ServeTLS(l.Listener, "", "")
			} else {
				err = srv.Serve(l.Listener)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	lctx, stopLoops := context.WithCancel(ctx)
	var loopsDone sync.WaitGroup
	for _, loop := range loops {
		loopsDone.Go(func() { loop(lctx) })
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopLoops()
	loopsDone.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			if serr := srv.Shutdown(sctx); serr != nil {
				log.Warn("shutdown did not finish cleanly", zap.Error(serr))
			}
		})
	}
	wg.Wait()
	return err
}
