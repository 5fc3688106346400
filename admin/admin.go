// Package admin carries out operator commands (agents, the queue,
// sessions, retention, holds, audit, backups, stats), signs agents in, and
// runs the retention janitor. It works over storage and a small Live
// interface to the running hub, so the same code serves a running server
// (through its admin socket) and a stopped one (on the database file).
package admin

import (
	"context"
	"encoding/json"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Admin carries out operator commands over db and the live service (a
// running hub, or Offline when the server is stopped), so both paths run
// the same code.
type Admin struct {
	db   *storage.DB
	live Live
	now  func() time.Time
}

// New returns an Admin over db and live; a nil live means Offline(db).
func New(db *storage.DB, live Live) *Admin {
	if live == nil {
		live = Offline(db)
	}
	return &Admin{db: db, live: live, now: db.Now}
}

// Command is one named admin command: it decodes its JSON arguments
// and returns a result to encode as JSON.
type Command func(a *Admin, ctx context.Context, args json.RawMessage) (any, error)

// adminCommands maps command names to their implementations.
var adminCommands = map[string]Command{
	"agent.add":     adminArgs((*Admin).AddAgent),
	"agent.ls":      adminNoArgs((*Admin).ListAgents),
	"agent.set":     adminArgs((*Admin).SetAgent),
	"agent.disable": adminArgs((*Admin).DisableAgent),
	"agent.logout":  adminArgs((*Admin).LogoutAgent),
}

func adminArgs[A any, R any](f func(*Admin, context.Context, A) (R, error)) Command {
	return func(a *Admin, ctx context.Context, raw json.RawMessage) (any, error) {
		var args A
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &args); err != nil {
				return nil, parley.Errorf(parley.EBadRequest, "Bad arguments: %v.", err)
			}
		}
		return f(a, ctx, args)
	}
}

func adminNoArgs[R any](f func(*Admin, context.Context) (R, error)) Command {
	return func(a *Admin, ctx context.Context, _ json.RawMessage) (any, error) { return f(a, ctx) }
}

// Do runs the named command with JSON arguments.
func (a *Admin) Do(ctx context.Context, name string, args json.RawMessage) (any, error) {
	cmd, ok := adminCommands[name]
	if !ok {
		return nil, parley.Errorf(parley.ENotFound, "Unknown admin command %q.", name)
	}
	return cmd(a, ctx, args)
}

// Online reports whether the admin works through a running server.
func (a *Admin) Online() bool { return a.live.Online() }

// AgentRow is an agent as admin commands show it.
type AgentRow struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Email     string      `json:"email"`
	Capacity  int         `json:"capacity"`
	Status    string      `json:"status"`
	Active    int         `json:"active"`
	Disabled  bool        `json:"disabled"`
	CreatedAt parley.Time `json:"created_at"`
	// Queues are the queues the agent serves; empty means every queue.
	Queues []string `json:"queues"`
}

// AgentAddArgs are the arguments of agent.add.
type AgentAddArgs struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Capacity int    `json:"capacity"`
	Password string `json:"password"`
	// Queues are the queues the agent serves; empty means every queue.
	Queues []string `json:"queues,omitempty"`
}

// AgentSetArgs are the arguments of agent.set; nil fields stay unchanged.
type AgentSetArgs struct {
	Email    string  `json:"email"`
	Name     *string `json:"name,omitempty"`
	Capacity *int    `json:"capacity,omitempty"`
	Password *string `json:"password,omitempty"`
	Enable   bool    `json:"enable,omitempty"`
	// Queues, if set, replaces the queues the agent serves; an empty
	// list means every queue.
	Queues *[]string `json:"queues,omitempty"`
}

// AgentDisableArgs are the arguments of agent.disable.
type AgentDisableArgs struct {
	Email string `json:"email"`
}

// maxNameLen bounds agent names, in bytes.
const maxNameLen = 100

func validCapacity(c int) error {
	if c < parley.MinCapacity || c > parley.MaxCapacity {
		return parley.Errorf(parley.EBadRequest, "capacity must be between %d and %d.", parley.MinCapacity, parley.MaxCapacity)
	}
	return nil
}

// AddAgent creates an agent account.
func (a *Admin) AddAgent(ctx context.Context, args AgentAddArgs) (AgentRow, error) {
	return a.addAgent(ctx, args, false)
}

// addAgent creates an agent account; mustChange marks its password as a
// one-time password.
func (a *Admin) addAgent(ctx context.Context, args AgentAddArgs, mustChange bool) (AgentRow, error) {
	args.Name = strings.TrimSpace(args.Name)
	args.Email = strings.TrimSpace(args.Email)
	if args.Name == "" || len(args.Name) > maxNameLen {
		return AgentRow{}, parley.Errorf(parley.EBadRequest, "name is required (at most %d bytes).", maxNameLen)
	}
	if addr, err := mail.ParseAddress(args.Email); err != nil || addr.Address != args.Email || len(args.Email) > 254 {
		return AgentRow{}, parley.Errorf(parley.EBadRequest, "email %q is not a valid address.", args.Email)
	}
	if args.Capacity == 0 {
		args.Capacity = parley.DefaultCapacity
	}
	if err := validCapacity(args.Capacity); err != nil {
		return AgentRow{}, err
	}
	hash, err := auth.HashPassword(args.Password)
	if err != nil {
		return AgentRow{}, err
	}
	now := a.now()
	ag := &parley.Agent{
		ID: parley.NewID(now), Name: args.Name, Email: args.Email, Capacity: args.Capacity,
		Status: parley.StatusOffline, PasswordHash: hash, CreatedAt: parley.TimeOf(now),
		MustChangePassword: mustChange, Queues: servedQueues(args.Queues),
	}
	err = a.db.Update(ctx, func(tx *storage.Tx) error {
		if err := checkQueues(tx, ag.Queues); err != nil {
			return err
		}
		return tx.PutAgent(ag)
	})
	if err != nil {
		return AgentRow{}, err
	}
	a.changed(ag)
	return a.row(ag, nil), nil
}

// ListAgents lists every agent with its live status when the server runs.
func (a *Admin) ListAgents(ctx context.Context) ([]AgentRow, error) {
	var agents []*parley.Agent
	if err := a.db.View(func(tx *storage.Tx) (err error) { agents, err = tx.Agents(); return }); err != nil {
		return nil, err
	}
	live := a.live.AgentStatuses()
	rows := make([]AgentRow, len(agents))
	for i, ag := range agents {
		rows[i] = a.row(ag, live)
	}
	return rows, nil
}

// SetAgent changes an agent's name, capacity or password, or re-enables it.
func (a *Admin) SetAgent(ctx context.Context, args AgentSetArgs) (AgentRow, error) {
	if args.Capacity != nil {
		if err := validCapacity(*args.Capacity); err != nil {
			return AgentRow{}, err
		}
	}
	if args.Queues != nil {
		qs := servedQueues(*args.Queues)
		if err := a.db.View(func(tx *storage.Tx) error { return checkQueues(tx, qs) }); err != nil {
			return AgentRow{}, err
		}
	}
	var hash []byte
	if args.Password != nil {
		var err error
		if hash, err = auth.HashPassword(*args.Password); err != nil {
			return AgentRow{}, err
		}
	}
	ag, err := a.editAgent(ctx, args.Email, func(ag *parley.Agent) error {
		if args.Queues != nil {
			ag.Queues = servedQueues(*args.Queues)
		}
		if args.Name != nil {
			name := strings.TrimSpace(*args.Name)
			if name == "" || len(name) > maxNameLen {
				return parley.Errorf(parley.EBadRequest, "name is required (at most %d bytes).", maxNameLen)
			}
			ag.Name = name
		}
		if args.Capacity != nil {
			ag.Capacity = *args.Capacity
		}
		if hash != nil {
			// The operator chose this password; it is not a one-time one.
			// Tokens issued for the old one stop working.
			ag.PasswordHash, ag.MustChangePassword = hash, false
			ag.TokenGen++
		}
		if args.Enable {
			ag.Disabled = false
		}
		return nil
	})
	if err != nil {
		return AgentRow{}, err
	}
	return a.row(ag, nil), nil
}

// DisableAgent stops an agent from signing in and getting chats, and closes
// its open connections. Its open chats stay open for colleagues to take
// over.
func (a *Admin) DisableAgent(ctx context.Context, args AgentDisableArgs) (AgentRow, error) {
	ag, err := a.editAgent(ctx, args.Email, func(ag *parley.Agent) error {
		ag.Disabled = true
		ag.TokenGen++
		return nil
	})
	if err != nil {
		return AgentRow{}, err
	}
	return a.row(ag, nil), nil
}

// LogoutAgent revokes every token an agent holds and closes its open
// connections; it must sign in again. Its open chats stay open.
func (a *Admin) LogoutAgent(ctx context.Context, args AgentDisableArgs) (AgentRow, error) {
	ag, err := a.editAgent(ctx, args.Email, func(ag *parley.Agent) error {
		ag.TokenGen++
		return nil
	})
	if err != nil {
		return AgentRow{}, err
	}
	return a.row(ag, nil), nil
}

// editAgent loads an agent by email, applies edit and stores it, in one
// transaction.
func (a *Admin) editAgent(ctx context.Context, email string, edit func(*parley.Agent) error) (*parley.Agent, error) {
	if email == "" {
		return nil, parley.Errorf(parley.EBadRequest, "email is required.")
	}
	var ag *parley.Agent
	err := a.db.Update(ctx, func(tx *storage.Tx) error {
		var err error
		if ag, err = tx.AgentByEmail(email); err != nil {
			if parley.ErrorCode(err) == parley.ENotFound {
				return parley.Errorf(parley.ENotFound, "No agent with email %s.", email)
			}
			return err
		}
		if err := edit(ag); err != nil {
			return err
		}
		return tx.PutAgent(ag)
	})
	if err != nil {
		return nil, err
	}
	a.changed(ag)
	return ag, nil
}

// changed tells the running server about an edited agent; a disabled
// agent's open connections are closed.
func (a *Admin) changed(ag *parley.Agent) { a.live.AgentChanged(ag) }

func (a *Admin) row(ag *parley.Agent, live map[string]parley.AgentInfo) AgentRow {
	r := AgentRow{
		ID: ag.ID, Name: ag.Name, Email: ag.Email, Capacity: ag.Capacity,
		Status: parley.StatusOffline, Disabled: ag.Disabled, CreatedAt: ag.CreatedAt,
		Queues: slices.Clone(ag.Queues),
	}
	if r.Queues == nil {
		r.Queues = []string{}
	}
	if live == nil {
		live = a.live.AgentStatuses()
	}
	if info, ok := live[ag.ID]; ok {
		r.Status, r.Active = info.Status, info.Active
	}
	if !a.Online() {
		r.Status = "(server stopped)"
	}
	return r
}

// Commands lists the names of the admin commands, sorted.
func Commands() []string {
	names := make([]string, 0, len(adminCommands))
	for n := range adminCommands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
