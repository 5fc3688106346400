package parley_test

import (
	"fmt"
	"testing"

	"github.com/parley-chat/parley/parley"
)

// TestErrorReadsAsASentence checks that a wrapped *Error reads naturally,
// with its code left to ErrorCode.
func TestErrorReadsAsASentence(t *testing.T) {
	err := fmt.Errorf("storage: put agent a-1: %w", parley.Errorf(parley.EConflict, "An agent with email %s exists.", "bob@example.com"))
	if got, want := err.Error(), "storage: put agent a-1: An agent with email bob@example.com exists."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := parley.ErrorCode(err); got != parley.EConflict {
		t.Errorf("ErrorCode = %q, want %q", got, parley.EConflict)
	}
}
