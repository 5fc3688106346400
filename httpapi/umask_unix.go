//go:build unix

package httpapi

import "syscall"

// umask sets the process umask so the admin socket is created private
// from the start, and returns the previous one.
func umask(mask int) int { return syscall.Umask(mask) }
