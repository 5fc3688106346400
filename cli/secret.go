package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/parley-chat/parley/auth"
)

// customerSecret returns the secret customer tokens are verified with:
// --customer-secret, the file named by --customer-secret-file, or the
// one generated in the data directory. A secret shorter than
// auth.MinSecretLen bytes is refused: HS256 with a short key can be
// brute-forced offline from a single token.
func customerSecret(g *globalOptions, o *serveOptions, log *slog.Logger) ([]byte, error) {
	return resolveSecret(g, o.customerSecret, o.customerSecretFile, log)
}

// resolveSecret is customerSecret for any command that takes
// --customer-secret and --customer-secret-file (serve verifies with the
// secret, token signs with it).
func resolveSecret(g *globalOptions, secret, file string, log *slog.Logger) ([]byte, error) {
	switch {
	case secret != "" && file != "":
		return nil, errors.New("give --customer-secret or --customer-secret-file, not both")
	case secret != "":
		if len(secret) < auth.MinSecretLen {
			return nil, fmt.Errorf("--customer-secret is %d bytes; at least %d are required (e.g. openssl rand -hex 32)",
				len(secret), auth.MinSecretLen)
		}
		return []byte(secret), nil
	case file != "":
		b, err := auth.ReadSecret(file)
		if err != nil {
			return nil, fmt.Errorf("--customer-secret-file: %w", err)
		}
		// Warned about only once the secret is known to be usable, so a
		// refusal is the only thing said.
		warnIfShared(log, file, "customer secret file", "chmod 600")
		return b, nil
	}
	b, err := auth.LoadOrCreateSecret(g.secretPath())
	if err != nil {
		return nil, fmt.Errorf("customer secret: %w", err)
	}
	warnIfShared(log, g.secretPath(), "customer secret file", "chmod 600")
	return b, nil
}

// warnIfShared logs a warning when other users may read the file or
// directory at path (any group or other permission bit).
func warnIfShared(log *slog.Logger, path, what, fix string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		log.Warn(what+" is accessible to other users", "path", path, "mode", fmt.Sprintf("%#o", perm), "fix", fix+" "+path)
	}
}
