package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
	janitorEvery   time.Duration
	logLevel       string
	firstAgent     string
	shutdownWait   time.Duration
	debugListen    string
}

func newCmdServe(g *globalOptions) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the chat server",
		Long: "Run the chat server. On a new data directory it creates the database, a customer-token\n" +
			"secret (mode 0600) and a first agent whose one-time password it prints.",
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
	f.Var(newDurationValue(parley.DefaultRetentionDays*24*time.Hour, &o.retention), "retention", "how long ended conversations are kept before the janitor purges them (e.g. 90d; 0 keeps them forever)")
	f.DurationVar(&o.janitorEvery, "purge-interval", time.Hour, "how often the janitor looks for expired conversations")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.firstAgent, "first-agent", "admin@localhost", "email of the agent created in a new data directory")
	f.DurationVar(&o.shutdownWait, "shutdown-timeout", 10*time.Second, "how long a graceful stop waits for clients")
	f.StringVar(&o.debugListen, "debug-listen", "", "address to serve Go profiles (/debug/pprof/) on; off when empty, keep it on loopback")
	return cmd
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, g *globalOptions, o *serveOptions) error {
	// Logs go to the command's error stream, so that callers embedding
	// Main (tests, wrappers) capture them like any other output.
	var logOut io.Writer = os.Stderr
	if g.streams.Err != nil {
		logOut = g.streams.Err
	}
	log, err := newLogger(logOut, o.logLevel)
	if err != nil {
		return err
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

	secret := []byte(o.customerSecret)
	if o.customerSecret == "" {
		if secret, err = auth.LoadOrCreateSecret(g.secretPath()); err != nil {
			return fmt.Errorf("customer secret: %w", err)
		}
	}
	if err := ensureFirstAgent(ctx, g, db, o.firstAgent); err != nil {
		return err
	}

	retention := o.retention
	if retention == 0 {
		retention = -1 // keep forever: the janitor does not run
	}
	hub, err := chat.Open(db, chat.Config{
		Logger: log, CustomerWindow: o.customerWindow, Retention: retention, JanitorInterval: o.janitorEvery,
	})
	if err != nil {
		return err
	}
	defer hub.Close()
	api := httpapi.New(hub, httpapi.Config{
		CustomerSecret: secret,
		AgentSecret:    db.AgentSecret(),
		AllowAnonymous: o.allowAnonymous,
		AllowedOrigins: o.allowedOrigins,
		Logger:         log,
	})
	admin, err := httpapi.ServeAdmin(g.socketPath(), chat.NewAdmin(db, hub), log)
	if err != nil {
		return err
	}
	defer admin.Close()

	if o.debugListen != "" {
		dln, err := net.Listen("tcp", o.debugListen)
		if err != nil {
			return fmt.Errorf("debug listen: %w", err)
		}
		defer dln.Close()
		go func() { _ = http.Serve(dln, debugMux()) }()
		log.Info("serving profiles", "addr", dln.Addr().String())
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
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
	log.Info("parley listening", "addr", ln.Addr().String(), "data", g.data, "admin_socket", g.socketPath())
	fmt.Fprintf(g.streams.Out, "Parley listening on http://%s (data in %s)\n", ln.Addr(), g.data)

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownWait)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := api.Shutdown(sctx); err != nil {
		log.Warn("clients did not all disconnect in time", "err", err)
	}
	return nil
}

// ensureFirstAgent creates an agent with a generated password when the
// database has none, and prints the password once.
func ensureFirstAgent(ctx context.Context, g *globalOptions, db *storage.DB, email string) error {
	var n int
	if err := db.View(func(tx *storage.Tx) (err error) { n, err = tx.AgentCount(); return }); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	pw, err := auth.GeneratePassword()
	if err != nil {
		return err
	}
	name, _, _ := strings.Cut(email, "@")
	if _, err := chat.NewAdmin(db, nil).AddAgent(ctx, chat.AgentAddArgs{
		Name: name, Email: email, Capacity: parley.DefaultCapacity, Password: pw,
	}); err != nil {
		return fmt.Errorf("create first agent: %w", err)
	}
	fmt.Fprintf(g.streams.Out, "Created the first agent %s with one-time password: %s\n"+
		"It is shown only now. Change it with: parley agent set %s --password-stdin\n", email, pw, email)
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
