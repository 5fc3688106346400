package cli

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

type healthcheckOptions struct {
	listen  string
	tlsCert string
	url     string
	timeout time.Duration
}

// newCmdHealthcheck is parley healthcheck: GET /readyz of a server on
// this machine, for container HEALTHCHECKs (a static image has no curl).
// It reads --listen and --tls-cert like serve does, so PARLEY_LISTEN and
// PARLEY_TLS_CERT in the container's environment point it at the server.
func newCmdHealthcheck(g *globalOptions) *cobra.Command {
	o := &healthcheckOptions{}
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the server on this machine is ready (GET /readyz), 1 if not",
		Long: "Ask the server on this machine whether it is ready (GET /readyz) and exit 0 if it is.\n" +
			"Meant for container health checks. It reads --listen and --tls-cert as serve does (also from\n" +
			"PARLEY_LISTEN and PARLEY_TLS_CERT); a wildcard listen address is asked on loopback. Over TLS\n" +
			"the certificate is not verified: the check talks to its own machine.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHealthcheck(g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "the server's --listen address")
	f.StringVar(&o.tlsCert, "tls-cert", "", "the server's --tls-cert: when set, ask over HTTPS")
	f.StringVar(&o.url, "url", "", "ask this URL instead (e.g. http://127.0.0.1:8080/readyz)")
	f.DurationVar(&o.timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}

// healthURL is the /readyz URL of a server listening on listen.
func healthURL(listen string, https bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/readyz", nil
}

func runHealthcheck(g *globalOptions, o *healthcheckOptions) error {
	u := o.url
	if u == "" {
		var err error
		if u, err = healthURL(o.listen, o.tlsCert != ""); err != nil {
			return err
		}
	}
	client := &http.Client{
		Timeout: o.timeout,
		Transport: &http.Transport{
			// The check asks its own machine by address, which the
			// certificate does not name.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback self-check
		},
	}
	resp, err := client.Get(u)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %s: %s", u, resp.Status, body)
	}
	if g.json {
		return g.printJSON(map[string]any{"ready": true, "url": u})
	}
	fmt.Fprintf(g.streams.Out, "ready (%s)\n", u)
	return nil
}
