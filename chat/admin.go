package chat

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

// Admin carries out operator commands. It works on the database alone when
// the server is stopped, and through the running Hub when there is one, so
// both paths run the same code.
type Admin struct {
	db  *storage.DB
	hub *Hub // nil when the server is not running
	now func() time.Time
}

// NewAdmin returns an Admin over db; hub is nil when no server runs.
func NewAdmin(db *storage.DB, hub *Hub) *Admin {
	a := &Admin{db: db, hub: hub, now: db.Now}
	return a
}

// AdminCommand is one named admin command: it decodes its JSON arguments
// and returns a result to encode as JSON.
type AdminCommand func(a *Admin, ctx context.Context, args json.RawMessage) (any, error)

// adminCommands maps command names to their implementations.
var adminCommands = map[string]AdminCommand{
	"agent.add":     adminArgs((*Admin).AddAgent),
	"agent.ls":      adminNoArgs((*Admin).ListAgents),
	"agent.set":     adminArgs((*Admin).SetAgent),
	"agent.disable": adminArgs((*Admin).DisableAgent),
}

func adminArgs[A any, R any](f func(*Admin, context.Context, A) (R, error)) AdminCommand {
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

func adminNoArgs[R any](f func(*Admin, context.Context) (R, error)) AdminCommand {
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
func (a *Admin) Online() bool { return a.hub != nil }

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
}

// AgentAddArgs are the arguments of agent.add.
type AgentAddArgs struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Capacity int    `json:"capacity"`
	Password string `json:"password"`
}

// AgentSetArgs are the arguments of agent.set; nil fields stay unchanged.
type AgentSetArgs struct {
	Email    string  `json:"email"`
	Name     *string `json:"name,omitempty"`
	Capacity *int    `json:"capacity,omitempty"`
	Password *string `json:"password,omitempty"`
	Enable   bool    `json:"enable,omitempty"`
}

// AgentDisableArgs are the arguments of agent.disable.
type AgentDisableArgs struct {
	Email string `json:"email"`
}

func validCapacity(c int) error {
	if c < 1 || c > 100 {
		return parley.Errorf(parley.EBadRequest, "capacity must be between 1 and 100.")
	}
	return nil
}

// AddAgent creates an agent account.
func (a *Admin) AddAgent(ctx context.Context, args AgentAddArgs) (AgentRow, error) {
	args.Name = strings.TrimSpace(args.Name)
	args.Email = strings.TrimSpace(args.Email)
	if args.Name == "" || len(args.Name) > 100 {
		return AgentRow{}, parley.Errorf(parley.EBadRequest, "name is required (at most 100 bytes).")
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
	}
	if err := a.db.Update(ctx, func(tx *storage.Tx) error { return tx.PutAgent(ag) }); err != nil {
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
	var live map[string]parley.AgentInfo
	if a.hub != nil {
		live = a.hub.disp.agentStatuses()
	}
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
	var hash []byte
	if args.Password != nil {
		var err error
		if hash, err = auth.HashPassword(*args.Password); err != nil {
			return AgentRow{}, err
		}
	}
	ag, err := a.editAgent(ctx, args.Email, func(ag *parley.Agent) error {
		if args.Name != nil {
			name := strings.TrimSpace(*args.Name)
			if name == "" || len(name) > 100 {
				return parley.Errorf(parley.EBadRequest, "name is required (at most 100 bytes).")
			}
			ag.Name = name
		}
		if args.Capacity != nil {
			ag.Capacity = *args.Capacity
		}
		if hash != nil {
			ag.PasswordHash = hash
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
func (a *Admin) changed(ag *parley.Agent) {
	if a.hub == nil {
		return
	}
	a.hub.disp.agentChanged(ag)
	if ag.Disabled {
		a.hub.reg.disconnectAgent(ag.ID, parley.ReasonDisabled)
	}
}

func (a *Admin) row(ag *parley.Agent, live map[string]parley.AgentInfo) AgentRow {
	r := AgentRow{
		ID: ag.ID, Name: ag.Name, Email: ag.Email, Capacity: ag.Capacity,
		Status: parley.StatusOffline, Disabled: ag.Disabled, CreatedAt: ag.CreatedAt,
	}
	if a.hub != nil && live == nil {
		live = a.hub.disp.agentStatuses()
	}
	if info, ok := live[ag.ID]; ok {
		r.Status, r.Active = info.Status, info.Active
	}
	if !a.Online() {
		r.Status = "(server stopped)"
	}
	return r
}

// AdminCommands lists the names of the admin commands, sorted.
func AdminCommands() []string {
	names := make([]string, 0, len(adminCommands))
	for n := range adminCommands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
