package ingress

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// Source is the replica the ingress follows.
type Source interface {
	View() View
	// Watch returns a channel closed at the next change of the state.
	Watch() <-chan struct{}
}

// Config configures an Ingress.
type Config struct {
	// Bind is the IP the listeners listen on, e.g. "0.0.0.0".
	Bind   string
	Source Source
	// Logger receives the ingress's log; nil discards it.
	Logger *slog.Logger
	// Grace is how long a listener that closes gives its open requests
	// and connections to finish; default 30s.
	Grace time.Duration
	// Retry is how often a listener port that could not be opened is
	// tried again; default 5s.
	Retry time.Duration
}

// server is one open listener port.
type server interface {
	protocol() string
	update(*Listener)
	// stopAccepting closes the listening socket at once, so that the
	// port may be opened again while close lets open requests finish.
	stopAccepting()
	close(context.Context)
}

// Ingress keeps this agent's listeners in step with the state: a listener
// opens when a service names its port, follows the service's healthy tasks,
// and closes, letting its open requests finish, when no service names it
// any more. Run drives it; Addrs may be called from any goroutine.
type Ingress struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // guards servers and failed
	servers map[int]server
	// failed holds the ports that could not be opened and why, so that
	// the failure is logged once per cause.
	failed map[int]string
	// closing counts listeners that are draining; stop cuts their grace
	// short when the ingress itself closes.
	closing sync.WaitGroup
	stop    context.Context
	cancel  context.CancelFunc
}

// New returns an Ingress; Run starts it.
func New(cfg Config) *Ingress {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Grace == 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.Retry == 0 {
		cfg.Retry = 5 * time.Second
	}
	g := &Ingress{cfg: cfg, log: cfg.Logger.With("component", "ingress"), servers: map[int]server{}, failed: map[int]string{}}
	g.stop, g.cancel = context.WithCancel(context.Background())
	return g
}

// Run follows the state until ctx ends, then closes every listener, giving
// open requests a few seconds.
func (g *Ingress) Run(ctx context.Context) {
	for {
		watch := g.cfg.Source.Watch()
		plan, until := Plan(g.cfg.Source.View(), time.Now())
		g.apply(plan)
		wait := time.Duration(-1)
		if !until.IsZero() {
			wait = max(time.Until(until), 0)
		}
		if g.hasFailed() && (wait < 0 || wait > g.cfg.Retry) {
			wait = g.cfg.Retry
		}
		timer := time.NewTimer(wait)
		if wait < 0 {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			g.closeAll(5 * time.Second)
			return
		case <-watch:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (g *Ingress) hasFailed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.failed) > 0
}

// apply opens, updates and closes listeners to match plan.
func (g *Ingress) apply(plan map[int]*Listener) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for port, s := range g.servers {
		if l := plan[port]; l == nil || l.Protocol != s.protocol() {
			delete(g.servers, port)
			g.drain(port, s)
		}
	}
	for port := range g.failed {
		if plan[port] == nil {
			delete(g.failed, port)
		}
	}
	for port, l := range plan {
		s := g.servers[port]
		if s == nil {
			var err error
			if s, err = g.open(l); err != nil {
				if why := err.Error(); g.failed[port] != why {
					g.failed[port] = why
					g.log.Error("cannot open listener; retrying", "port", port, "protocol", l.Protocol, "err", err)
				}
				continue
			}
			delete(g.failed, port)
			g.servers[port] = s
			g.log.Info("listener open", "port", port, "protocol", l.Protocol)
		}
		s.update(l)
	}
}

func (g *Ingress) open(l *Listener) (server, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(g.cfg.Bind, strconv.Itoa(l.Port)))
	if err != nil {
		return nil, err
	}
	log := g.log.With("port", l.Port)
	if l.Protocol == structs.ProtocolTCP {
		return newTCPListener(ln, l.Port, log), nil
	}
	return newHTTPListener(ln, l.Port, log), nil
}

// drain closes a listener in the background, giving its open requests
// and connections the grace period.
func (g *Ingress) drain(port int, s server) {
	g.log.Info("listener closing", "port", port)
	s.stopAccepting()
	g.closing.Add(1)
	go func() {
		defer g.closing.Done()
		ctx, cancel := context.WithTimeout(g.stop, g.cfg.Grace)
		defer cancel()
		s.close(ctx)
	}()
}

// closeAll closes every listener, giving open requests grace to finish,
// then cuts listeners still draining and waits for them.
func (g *Ingress) closeAll(grace time.Duration) {
	g.mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for port, s := range g.servers {
		delete(g.servers, port)
		wg.Add(1)
		go func() { defer wg.Done(); s.close(ctx) }()
	}
	g.mu.Unlock()
	wg.Wait()
	g.cancel()
	g.closing.Wait()
}

// Ports lists the listener ports open now.
func (g *Ingress) Ports() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]int, 0, len(g.servers))
	for p := range g.servers {
		out = append(out, p)
	}
	return out
}
