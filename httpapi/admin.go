package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/parley-chat/parley/parley"
)

// ErrNoServer means no server answers on the admin socket.
var ErrNoServer = errors.New("no server answers on the admin socket")

// AdminServer serves admin commands on a Unix socket that only the owner of
// the data directory can reach (mode 0600).
type AdminServer struct {
	path string
	ln   net.Listener
	srv  *http.Server
}

// Commander runs named admin commands with JSON arguments; *admin.Admin
// implements it.
type Commander interface {
	Do(ctx context.Context, name string, args json.RawMessage) (any, error)
}

// ServeAdmin listens on the Unix socket at path and serves admin commands
// with admin. A stale socket file left by a crashed server is replaced.
func ServeAdmin(path string, admin Commander, log *slog.Logger) (*AdminServer, error) {
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin socket %s: another server answers on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale admin socket: %w", err)
		}
	}
	// The data directory is private (0700); the socket is narrowed to
	// 0600 as soon as it exists.
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/admin/{cmd}", func(w http.ResponseWriter, r *http.Request) {
		args, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeError(w, parley.Errorf(parley.EBadRequest, "Cannot read arguments."))
			return
		}
		res, err := admin.Do(r.Context(), r.PathValue("cmd"), args)
		if err != nil {
			if parley.ErrorCode(err) == parley.EInternal {
				log.Error("admin command failed", "cmd", r.PathValue("cmd"), "err", err)
			}
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	s := &AdminServer{path: path, ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops serving and removes the socket file.
func (s *AdminServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	_ = os.Remove(s.path)
	return err
}

// AdminClient runs admin commands on a running server.
type AdminClient struct {
	path string
	http *http.Client
}

// DialAdmin returns a client for the admin socket at path. Nothing is
// dialled until Do.
func DialAdmin(path string) *AdminClient {
	return &AdminClient{path: path, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Do runs cmd with args (encoded as JSON) and returns the JSON result. It
// returns an error wrapping ErrNoServer when nothing answers on the socket,
// and the server's *parley.Error when the command failed.
func (c *AdminClient) Do(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	if _, err := os.Stat(c.path); err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, ErrNoServer)
	}
	body, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://parley/v1/admin/"+cmd, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%s: %w", c.path, ErrNoServer)
		}
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var ef parley.ErrorFrame
		if json.Unmarshal(data, &ef) == nil && ef.Code != "" {
			return nil, &parley.Error{Code: ef.Code, Message: ef.Message}
		}
		return nil, fmt.Errorf("admin socket: HTTP %d", resp.StatusCode)
	}
	return data, nil
}
