package cli

import (
	"fmt"
	"net"
	"strings"
)

// sdNotify sends state (for example "READY=1") to the service manager over
// the datagram socket named by $NOTIFY_SOCKET, as sd_notify(3) does. It
// returns false, nil when the variable is unset: the server does not run
// under systemd with Type=notify. A name starting with "@" is an abstract
// socket.
func sdNotify(lookup func(string) (string, bool), state string) (bool, error) {
	name, ok := lookup("NOTIFY_SOCKET")
	if !ok || name == "" {
		return false, nil
	}
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	return true, nil
}
