package stub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is a running stub: the MediaWiki listener and, when enabled, the
// forward listener.
type Server struct {
	opts   Options
	log    *slog.Logger
	web    *http.Server
	webLn  net.Listener
	fwd    *http.Server
	fwdLn  net.Listener
	served bool
}

// Listen validates opts and binds the listeners; Serve then answers on
// them. A nil logger discards.
func Listen(opts Options, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	h, err := NewHandler(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("start stub: %w", err)
	}
	s := &Server{opts: opts, log: log}
	s.webLn, err = net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("start stub: listen on %q: %w", opts.Listen, err)
	}
	s.web = newHTTPServer(h, log)
	if opts.ForwardListen != "" {
		s.fwdLn, err = net.Listen("tcp", opts.ForwardListen)
		if err != nil {
			_ = s.webLn.Close()
			return nil, fmt.Errorf("start stub: listen for forwards on %q: %w", opts.ForwardListen, err)
		}
		s.fwd = newHTTPServer(NewForwardHandler(opts.Config.Identity, nil), log)
	}
	return s, nil
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Addr is the MediaWiki listener's address.
func (s *Server) Addr() net.Addr { return s.webLn.Addr() }

// ForwardAddr is the forward listener's address, nil when forwarding is off.
func (s *Server) ForwardAddr() net.Addr {
	if s.fwdLn == nil {
		return nil
	}
	return s.fwdLn.Addr()
}

// Serve answers until ctx is done (or a listener fails), then shuts down
// gracefully within Options.ShutdownTimeout. It may be called once.
func (s *Server) Serve(ctx context.Context) error {
	if s.served {
		return errors.New("serve stub: already served")
	}
	s.served = true
	type named struct {
		name string
		srv  *http.Server
	}
	servers := []named{{"mediawiki", s.web}}
	errc := make(chan error, 2)
	go func() { errc <- serveErr("mediawiki", s.web.Serve(s.webLn)) }()
	s.log.Info("serving", "addr", s.webLn.Addr().String(), "identity", s.opts.Config.Identity.HeaderValue())
	if s.fwd != nil {
		servers = append(servers, named{"forward", s.fwd})
		go func() { errc <- serveErr("forward", s.fwd.Serve(s.fwdLn)) }()
		s.log.Info("serving forwards", "addr", s.fwdLn.Addr().String())
	}

	var errs []error
	pending := len(servers) // Serve goroutines not yet returned
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "cause", context.Cause(ctx), "timeout", s.opts.ShutdownTimeout)
	case err := <-errc:
		pending--
		if err != nil {
			errs = append(errs, err)
		}
		s.log.Error("listener stopped, shutting down", "err", err) // stop the other one too
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	for _, n := range servers {
		if err := n.srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down %s listener: %w", n.name, err))
			_ = n.srv.Close()
		}
	}
	// Every Serve goroutine returns once its server is shut down or closed.
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func serveErr(name string, err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve %s listener: %w", name, err)
}
