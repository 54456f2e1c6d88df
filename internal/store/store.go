// Package store keeps tenants and their ledgers in SQLite or PostgreSQL behind one API.
// Both engines run the same SQL (written with ? placeholders and rebound for PostgreSQL);
// a batch of mutations costs a handful of multi-row statements, not one per row.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/tenant"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict means another writer changed a tenant since it was loaded; the
	// transaction was rolled back and the caller reloads and retries.
	ErrConflict = errors.New("concurrent update")
	// ErrKeyExists means a command record's idempotency key was already stored: the
	// caller looks the keys up and runs the batch again.
	ErrKeyExists = errors.New("idempotency key already stored")
)

// Tenant is an organization with one currency and one Communications Credits balance.
type Tenant struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Currency  money.Currency `json:"currency"`
	CreatedAt time.Time      `json:"created_at"`
}

// CommandRecord is an acknowledged command kept under its idempotency key.
type CommandRecord struct {
	Key    string
	Kind   string
	Hash   []byte
	Result []byte // the result returned to the first caller, in the writer's form
	At     time.Time
	// Usage: the key names one call (tenant.CallOfKey) and the record is kept in that
	// call's usage row, not in the commands table (migration 00011); such a record is
	// written through Mutation.UsageRecords.
	Usage bool
}

// Key is an idempotency key; keys are scoped to a tenant.
type Key struct{ Tenant, Key string }

// Mutation is everything one batch changed for one tenant. Lots and Reservations hold
// the final snapshot of each changed row; Closed lists reservations to delete.
type Mutation struct {
	Account      *ledger.Account
	Version      int64 // the version the account was loaded at; the commit bumps it
	Lots         []ledger.Lot
	Reservations []ledger.Reservation
	Closed       []string
	Entries      []ledger.Entry
	Commands     []CommandRecord
	At           time.Time

	// The rest of the tenant's state, when the writer runs whole tenants (State set):
	// summary rows of what changed are written as State has them now, the lists appended.
	State *tenant.State
	Dir   directory.Changes
	Pools []tenant.PoolRef
	Spend []tenant.SpendRef
	Calls []string // opened, changed or closed
	Usage []charging.UsageRow
	// UsageRecords[i], when its Hash is set, is the record kept in Usage[i]; it may be
	// shorter than Usage. A row with DurationSeconds 0 is there only for its record (a call
	// released, or ended after zero seconds): no report lists it.
	UsageRecords []CommandRecord
	BlockEvents  []charging.BlockEvent
	Refusals     []tenant.Refusal
	Recharge     bool // State.Recharge changed
	Outbox       []tenant.OutboxItem
	Receipts     []tenant.Receipt
}

// Tx is the writer's view of one transaction.
type Tx interface {
	// LoadAccount reads a tenant's account with its live lots and open reservations.
	LoadAccount(ctx context.Context, id string) (*ledger.Account, int64, error)
	// LoadState reads the whole tenant: account, directory, pool use and spend from the
	// month before now's, calls in progress, block states.
	LoadState(ctx context.Context, id string, now time.Time) (*tenant.State, int64, error)
	// LookupCommands returns the stored records among keys, in one round trip.
	LookupCommands(ctx context.Context, keys []Key) (map[Key]CommandRecord, error)
	// Save writes the mutations; ErrConflict when any account version moved, ErrKeyExists
	// when a command key is already stored.
	Save(ctx context.Context, ms []*Mutation) error
	// Write runs what Prepare built, as Save does: Save is Prepare and Write.
	Write(ctx context.Context, b *Batch) error
}

// Store is the whole persistence API. Implementations are safe for concurrent use.
type Store interface {
	// WriteTx runs fn in one write transaction (SERIALIZABLE on PostgreSQL, BEGIN
	// IMMEDIATE on SQLite) and commits it durably. It does not retry: the caller, which
	// owns any in-memory state fn touched, decides (see Retryable).
	WriteTx(ctx context.Context, fn func(Tx) error) error
	// Retryable reports whether a WriteTx error means "run the batch again".
	Retryable(err error) bool

	CreateTenant(ctx context.Context, t Tenant) error
	Tenant(ctx context.Context, id string) (Tenant, error)
	Tenants(ctx context.Context) ([]Tenant, error)
	// Account reads the current committed account (balance, lots, reservations).
	Account(ctx context.Context, tenant string) (*ledger.Account, error)
	// Entries lists ledger entries with seq > after, oldest first, at most limit.
	Entries(ctx context.Context, tenant string, after int64, limit int) ([]ledger.Entry, error)
	// Lots lists every lot of a tenant, drained and expired ones included, oldest first.
	Lots(ctx context.Context, tenant string) ([]ledger.Lot, error)
	Ping(ctx context.Context) error
	Close() error
}
