package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// certReloader serves a certificate and key pair read from two files and
// reads them again on Reload (parley serve does on SIGHUP), so that a
// renewed certificate needs no restart. A pair that fails to load on
// Reload leaves the one in use in place.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
}

// newCertReloader loads the pair once; an unusable pair is an error.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	c, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cert.Store(c)
	return r, nil
}

// load reads and checks the pair: the key must match the certificate and
// the certificate must parse.
func (r *certReloader) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", r.certFile, err)
		}
	}
	return &c, nil
}

// Reload reads the pair again and serves it from the next handshake on.
// On failure it logs, keeps serving the previous pair and returns the
// error.
func (r *certReloader) Reload() error {
	c, err := r.load()
	if err != nil {
		r.log.Error("TLS certificate not reloaded; still serving the previous one", "err", err)
		return err
	}
	r.cert.Store(c)
	r.log.Info("TLS certificate reloaded", "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := r.cert.Load()
	if c == nil {
		return nil, errors.New("no TLS certificate loaded")
	}
	return c, nil
}

// tlsConfig is the server's TLS configuration: TLS 1.2 and later, HTTP/1.1
// only (WebSocket upgrades need it), the certificate from r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: r.GetCertificate,
	}
}

// reloadOnHangup reloads certs (nil without --tls-cert) on every SIGHUP
// until ctx ends or the returned stop is called. SIGHUP is caught even
// without certificates, so that a reload (systemctl reload) never stops
// the server.
func reloadOnHangup(ctx context.Context, certs *certReloader, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-hup:
				if certs == nil {
					log.Info("SIGHUP: nothing to reload (no --tls-cert)")
					continue
				}
				_ = certs.Reload()
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}
