package admin

import (
	"context"
	"strings"
	"sync"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

var (
	dummyOnce sync.Once
	dummyHash []byte
)

// Login checks an agent's email and password and returns the agent. With
// newPassword set, it also replaces the password (after checking the old
// one), which is how an agent whose password is a generated one-time
// password signs in for the first time. Signing in with a one-time
// password and no newPassword is an EForbidden error: the caller must ask
// for a new password. Unknown emails cost as much time as wrong passwords,
// so responses do not reveal which emails exist.
func (a *Admin) Login(ctx context.Context, email, password, newPassword string) (*parley.Agent, error) {
	wrong := parley.Errorf(parley.EUnauthorized, "Email or password is wrong.")
	var ag *parley.Agent
	err := a.db.View(func(tx *storage.Tx) (err error) { ag, err = tx.AgentByEmail(email); return })
	if parley.ErrorCode(err) == parley.ENotFound {
		dummyOnce.Do(func() { dummyHash, _ = auth.HashPassword("parley-dummy-password") })
		auth.CheckPassword(dummyHash, password)
		return nil, wrong
	} else if err != nil {
		return nil, err
	}
	if !auth.CheckPassword(ag.PasswordHash, password) {
		return nil, wrong
	}
	if ag.Disabled {
		return nil, parley.Errorf(parley.EUnauthorized, "Agent account %s is disabled.", ag.Email)
	}
	if newPassword == "" {
		if ag.MustChangePassword {
			return nil, ErrPasswordChangeRequired
		}
		return ag, nil
	}
	if newPassword == password {
		return nil, parley.Errorf(parley.EBadRequest, "The new password must differ from the current one.")
	}
	hash, err := auth.HashPassword(newPassword)
	if err != nil {
		return nil, err
	}
	return a.editAgent(ctx, email, func(cur *parley.Agent) error {
		if cur.ID != ag.ID || string(cur.PasswordHash) != string(ag.PasswordHash) {
			return parley.Errorf(parley.EConflict, "The password was changed meanwhile; sign in again.")
		}
		cur.PasswordHash, cur.MustChangePassword = hash, false
		cur.TokenGen++ // tokens issued for the old password stop working
		return nil
	})
}

// ErrPasswordChangeRequired is Login's answer to a correct one-time
// password given without a new password.
var ErrPasswordChangeRequired = parley.Errorf(parley.EForbidden,
	"A new password is required: sign in again with new_password (at least %d characters).", auth.MinPasswordLen)

// OneTimePassword is a generated password to show an operator once.
type OneTimePassword struct {
	Email    string
	Password string
	Created  bool // the agent was created now; otherwise its password was reissued
}

// FirstAgent prepares the first agent of a data directory. In a database
// without agents it creates one with email and a generated one-time
// password. In one whose agents include some that never used their
// one-time password (the server stopped before anyone signed in), it gives
// each a fresh one-time password, since only hashes are stored. It returns
// the new passwords, to be shown once; none when there was nothing to do.
func (a *Admin) FirstAgent(ctx context.Context, email string) ([]OneTimePassword, error) {
	var agents []*parley.Agent
	if err := a.db.View(func(tx *storage.Tx) (err error) { agents, err = tx.Agents(); return }); err != nil {
		return nil, err
	}
	var out []OneTimePassword
	if len(agents) == 0 {
		pw, err := auth.GeneratePassword()
		if err != nil {
			return nil, err
		}
		name, _, _ := strings.Cut(email, "@")
		if _, err := a.addAgent(ctx, AgentAddArgs{Name: name, Email: email, Capacity: parley.DefaultCapacity, Password: pw}, true); err != nil {
			return nil, err
		}
		return append(out, OneTimePassword{Email: email, Password: pw, Created: true}), nil
	}
	for _, ag := range agents {
		if !ag.MustChangePassword || ag.Disabled {
			continue
		}
		pw, err := auth.GeneratePassword()
		if err != nil {
			return nil, err
		}
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return nil, err
		}
		if _, err := a.editAgent(ctx, ag.Email, func(cur *parley.Agent) error {
			cur.PasswordHash = hash
			return nil
		}); err != nil {
			return nil, err
		}
		out = append(out, OneTimePassword{Email: ag.Email, Password: pw})
	}
	return out, nil
}
