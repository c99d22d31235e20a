package testutil

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a target and plays the network
// faults a database client meets: a cut, and connections that die
// without a word. Build it with NewProxy; it is safe for concurrent use
// and closes everything when the test ends.
//
// Its faults are the ones the kernel cannot see, since the proxy's own
// end of each connection stays up and acknowledges everything: only the
// client's deadlines and pings find them.
type Proxy struct {
	target string
	ln     net.Listener

	mu    sync.Mutex
	cond  *sync.Cond
	cut   bool
	conns map[*proxyConn]bool
	// holding counts the pipes that hold bytes read during a cut.
	holding int
}

// proxyConn is one forwarded connection: client side and target side.
type proxyConn struct {
	client, target net.Conn
	// dead: every byte from now on is dropped, in both directions, and
	// the connection is never closed. Guarded by Proxy.mu.
	dead bool
}

// NewProxy listens on a loopback port and forwards to target (host:port).
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, ln: ln, conns: make(map[*proxyConn]bool)}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut holds everything, as a network cut does: bytes already read wait,
// and new connections are accepted but not forwarded, until Restore. What
// was held is delivered then, as TCP retransmits after a cut.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
}

// Holding is how many connections hold bytes read during a cut, not yet
// delivered (or dropped).
func (p *Proxy) Holding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holding
}

// Restore ends a cut: held bytes and connections go on.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	p.cond.Broadcast()
}

// BlackholeExisting makes every connection open now dead for ever: bytes
// either way are dropped and neither end is told, as after a NAT or load
// balancer forgot the connections. New connections pass (and it ends a
// cut).
func (p *Proxy) BlackholeExisting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.dead = true
	}
	p.cut = false
	p.cond.Broadcast()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	p.mu.Lock()
	for p.cut && p.conns != nil {
		p.cond.Wait()
	}
	closed := p.conns == nil
	p.mu.Unlock()
	if closed {
		c.Close()
		return
	}
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	pc := &proxyConn{client: c, target: u}
	p.mu.Lock()
	if p.conns == nil {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[pc] = true
	p.mu.Unlock()
	go p.pipe(pc, u, c)
	go p.pipe(pc, c, u)
}

// pipe copies src to dst, holding bytes during a cut and dropping them
// once pc is dead. A live connection's end closes the other end.
func (p *Proxy) pipe(pc *proxyConn, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		if p.cut && n > 0 {
			p.holding++
			for p.cut && !pc.dead && p.conns != nil {
				p.cond.Wait()
			}
			p.holding--
		}
		dead := pc.dead
		p.mu.Unlock()
		if n > 0 && !dead {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			// A dead connection is never closed by the proxy: its ends
			// learn nothing until the test ends.
			if !dead {
				dst.Close()
				src.Close()
			}
			return
		}
	}
}

// close ends every connection and the listener.
func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.client.Close()
		c.target.Close()
	}
	p.conns = nil
	p.cond.Broadcast()
}
