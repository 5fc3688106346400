package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

type serveOptions struct {
	listen         string
	customerSecret string
	allowAnonymous bool
	allowedOrigins []string
	customerWindow time.Duration
	retention      time.Duration
	purgeInterval  time.Duration
	logLevel       string
	firstAgent     string
	shutdownWait   time.Duration
	debugListen    string
	demo           bool
	publicURL      string

	customerSecretFile string
	maxTokenTTL        time.Duration
	trustedProxies     []string
	abandonAfter       time.Duration
	anonymousPerMinute int
	metricsListen      string
	limits             limitOptions

	tlsCert, tlsKey string
	logFormat       string
	notify          notifyOptions
	files           fileOptions // cli/files.go
}

func newCmdServe(g *globalOptions) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the chat server",
		Long: "Run the chat server. On a new data directory it creates the database, a customer-token\n" +
			"secret (mode 0600) and a first agent whose one-time password it prints. Until that password\n" +
			"is used (and replaced) each start prints a fresh one.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to serve HTTP and WebSocket on")
	f.StringVar(&o.customerSecret, "customer-secret", "", "HS256 secret of customer tokens (default: generated once and kept in the data directory)")
	f.BoolVar(&o.allowAnonymous, "allow-anonymous", false, "let visitors without a token chat; they get a server-signed token")
	f.StringSliceVar(&o.allowedOrigins, "allowed-origins", nil, "origins (scheme://host[:port]) whose pages may connect, or *; same-host pages always may")
	f.Var(newDurationValue(parley.DefaultCustomerWindowDays*24*time.Hour, &o.customerWindow), "customer-window", "how far back customers see their sessions (e.g. 14d)")
	f.Var(newOffDurationValue(parley.DefaultRetentionDays*24*time.Hour, &o.retention), "retention", "how long ended conversations are kept before the janitor purges them (e.g. 90d; 0 or off keeps them forever)")
	f.Var(newDurationValue(time.Hour, &o.purgeInterval), "purge-interval", "how often the janitor looks for expired conversations (e.g. 1h)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "text (logfmt) or json")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS and WSS; read again on SIGHUP")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.StringVar(&o.firstAgent, "first-agent", "admin@localhost", "email of the agent created in a new data directory")
	f.DurationVar(&o.shutdownWait, "shutdown-timeout", 10*time.Second, "how long a graceful stop waits for clients")
	f.StringVar(&o.debugListen, "debug-listen", "", "address to serve Go profiles (/debug/pprof/) on; off when empty, keep it on loopback")
	f.BoolVar(&o.demo, "demo", false, "serve the demo page /demo, which signs customer tokens for any name (always on while listening on loopback)")
	f.StringVar(&o.publicURL, "public-url", "", "scheme://host[:port] browsers reach this server at, shown in the widget snippet (default: the request's host)")
	f.StringVar(&o.customerSecretFile, "customer-secret-file", "", "file holding the HS256 secret of customer tokens (keeps it off the command line)")
	f.Var(newOffDurationValue(httpapi.DefaultMaxTokenTTL, &o.maxTokenTTL), "max-token-ttl", "refuse customer tokens whose exp lies further ahead (0 or off: no maximum)")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxies", nil, "proxies (CIDRs or addresses) whose X-Forwarded-For names the client")
	f.Var(newOffDurationValue(2*time.Minute, &o.abandonAfter), "abandon-after", "end a queued session whose customer has been disconnected this long (0 or off: never)")
	f.IntVar(&o.anonymousPerMinute, "anonymous-per-minute", 5, "new anonymous visitors allowed per client address per minute (0: no limit)")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "address to serve Prometheus /metrics on; off when empty")
	o.limits.addFlags(f)
	o.notify.addFlags(f)
	o.files.addFlags(f)
	return cmd
}

// isLoopback reports whether addr is a loopback listener address.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is neither text nor json", format)
}

func runServe(ctx context.Context, g *globalOptions, o *serveOptions) error {
	// Logs go to the command's error stream, so that callers embedding
	// Main (tests, wrappers) capture them like any other output.
	var logOut io.Writer = os.Stderr
	if g.streams.Err != nil {
		logOut = g.streams.Err
	}
	log, err := newLogger(logOut, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var certs *certReloader
	if o.tlsCert != "" {
		if certs, err = newCertReloader(o.tlsCert, o.tlsKey, log); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(g.data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	db, err := storage.Open(g.dbPath(), storage.Options{})
	if errors.Is(err, storage.ErrLocked) {
		return fmt.Errorf("another Parley server is using %s", g.dbPath())
	} else if err != nil {
		return err
	}
	defer db.Close()
	if notice := upgradeNotice(db); notice != "" {
		from, backup := db.Migration()
		log.Info(notice, "from", from, "to", storage.SchemaVersion, "backup", backup)
	}

	secret, err := customerSecret(g, o, log)
	if err != nil {
		return err
	}
	trusted, err := httpapi.ParseTrustedProxies(o.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	// Listen before anything else can print a one-time password: a start
	// that fails on a busy port must not have shown one.
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	scheme := "http"
	if certs != nil {
		ln, scheme = tls.NewListener(ln, certs.tlsConfig()), "https"
	}
	stopReload := reloadOnHangup(ctx, certs, log)
	defer stopReload()
	if o.debugListen != "" {
		dln, err := net.Listen("tcp", o.debugListen)
		if err != nil {
			return fmt.Errorf("debug listen: %w", err)
		}
		defer dln.Close()
		go func() { _ = http.Serve(dln, debugMux()) }()
		log.Info("serving profiles", "addr", dln.Addr().String())
	}

	var mln net.Listener
	if o.metricsListen != "" {
		if mln, err = net.Listen("tcp", o.metricsListen); err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		defer mln.Close()
	}

	ntf, err := o.notify.open(db, log, secret)
	if err != nil {
		return err
	}
	defer ntf.Close()
	hub, err := chat.Open(db, o.files.chat(o.limits.chat(chat.Config{Logger: log, CustomerWindow: o.customerWindow, AbandonAfter: o.abandonAfter, Notify: ntf})))
	if err != nil {
		return err
	}
	defer hub.Close()
	adm := admin.New(db, admin.HubLive(hub))
	demo := o.demo || isLoopback(ln.Addr())
	api := httpapi.New(hub, o.notify.http(o.files.http(o.limits.http(httpapi.Config{
		CustomerSecret: secret,
		AgentSecret:    db.AgentSecret(),
		AllowAnonymous: o.allowAnonymous,
		AllowedOrigins: o.allowedOrigins,
		Accounts:       adm,
		Demo:           demo,
		DemoPublic:     o.demo,
		PublicURL:      o.publicURL,
		Logger:         log,
		MaxTokenTTL:    offIfZero(o.maxTokenTTL),
		TrustedProxies: trusted,

		AnonymousPerMinute: int(offIfZero(time.Duration(o.anonymousPerMinute))),
	}))))
	if mln != nil {
		msrv := &http.Server{Handler: api.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("serving metrics", "addr", mln.Addr().String())
	}
	adminSrv, err := httpapi.ServeAdmin(g.socketPath(), adm, log)
	if err != nil {
		return err
	}
	defer adminSrv.Close()
	if o.retention > 0 {
		j := admin.StartJanitor(db, admin.JanitorConfig{Retention: o.retention, PurgeInterval: o.purgeInterval, Logger: log})
		defer j.Close()
	}
	if err := printFirstAgent(ctx, g, adm, o.firstAgent); err != nil {
		return err
	}

	// Timeouts bound plain HTTP requests; WebSocket connections are
	// hijacked, their deadlines cleared and then kept by httpapi.
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	warnIfShared(log, g.data, "data directory", "chmod 700")
	log.Info("parley listening", "addr", ln.Addr().String(), "scheme", scheme, "data", g.data, "admin_socket", g.socketPath())
	// One write, so a reader that waits for the first line sees the second.
	hint := fmt.Sprintf("Open %s://%s/console/ to answer chats; the landing page / shows the widget snippet", scheme, ln.Addr())
	if demo {
		hint = fmt.Sprintf("Open %s://%s/ in a browser: the agent console is at /console/, a demo page with the chat widget at /demo", scheme, ln.Addr())
	}
	fmt.Fprintf(g.streams.Out, "Parley listening on %s://%s (data in %s)\n%s\n", scheme, ln.Addr(), g.data, hint)
	// The listener is bound and served: tell systemd (Type=notify).
	if _, err := sdNotify(g.lookup, "READY=1"); err != nil {
		log.Warn("could not tell the service manager we are ready", "err", err)
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("shutting down")
	_, _ = sdNotify(g.lookup, "STOPPING=1")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownWait)
	defer cancel()
	// The listener stays open while the WebSockets drain, so clients
	// arriving meanwhile get 503 rather than a refused connection; then
	// the HTTP server stops and waits for plain requests.
	if err := api.Shutdown(sctx); err != nil {
		log.Warn("clients did not all disconnect in time", "err", err)
	}
	_ = srv.Shutdown(sctx)
	return nil
}

// printFirstAgent creates the first agent in a database without agents,
// or gives a fresh one-time password to agents that never used theirs,
// and prints each one-time password once. Only its hash is stored.
func printFirstAgent(ctx context.Context, g *globalOptions, adm *admin.Admin, email string) error {
	created, err := adm.FirstAgent(ctx, email)
	if err != nil {
		return fmt.Errorf("first agent: %w", err)
	}
	for _, p := range created {
		if p.Created {
			fmt.Fprintf(g.streams.Out, "Created the first agent %s with one-time password: %s\n", p.Email, p.Password)
		} else {
			fmt.Fprintf(g.streams.Out, "The agent %s never signed in; its new one-time password: %s\n", p.Email, p.Password)
		}
		fmt.Fprintf(g.streams.Out, "It is shown only now. Sign in with it and a new password of at least %d characters\n"+
			"(POST /v1/agent/login with \"new_password\"), or set one with: parley agent set %s --password-stdin\n",
			auth.MinPasswordLen, p.Email)
	}
	return nil
}

// debugMux serves the Go profiler on its own mux, so profiles are never
// reachable through the public listener.
func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// offIfZero maps a flag's 0 ("off") to httpapi's negative "off", since a
// zero there takes the default.
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
