// Package service is what the HTTP API (and anything else that serves admins or switches)
// does, without HTTP: API keys and roles, tenants, commands through the writer under a
// caller's idempotency key, stored responses for the operations that do not go through the
// writer, and reads of committed state.
package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Roles. The names are shared with the web UI and the CLI.
const (
	RoleOperator      = "operator"       // every tenant, tenant creation, rate cards, operator keys
	RoleTenantAdmin   = "tenant_admin"   // everything of its own tenant, keys included
	RoleBillingAdmin  = "billing_admin"  // reads, credits and funding of its own tenant
	RoleReportsReader = "reports_reader" // reads of its own tenant only
	RoleSwitch        = "switch"         // authorize, extend, settle, release, post CDRs only
)

// TenantRoles are the roles a tenant-scoped key may have.
var TenantRoles = []string{RoleTenantAdmin, RoleBillingAdmin, RoleReportsReader, RoleSwitch}

// KeyPrefix starts every secret, so that a leaked key is recognisable (secret scanners).
const KeyPrefix = "cc_live_"

// Errors of the service itself.
var (
	ErrUnauthenticated = errors.New("missing, unknown or revoked API key")
	ErrInvalid         = errors.New("invalid")
	ErrReplayMismatch  = errors.New("idempotency key reused with a different request")
	// ErrJobsUnavailable: the job queue (River) is not running in this process, so the
	// delivery log cannot be read nor a notification sent again.
	ErrJobsUnavailable = errors.New("the notification job queue is not running in this server")
)

// Notifications is the part of the job queue the API uses: *jobs.Jobs implements it.
type Notifications interface {
	Resend(ctx context.Context, e notify.Event, target string, now time.Time) (string, error)
	TenantDeliveries(ctx context.Context, tenant string, limit int) ([]jobs.Delivery, error)
}

var _ Notifications = (*jobs.Jobs)(nil)

// Principal is who a request acts as: a key, its tenant ("" for operators) and role.
type Principal struct {
	KeyID  string
	Tenant string
	Role   string
}

// Operator reports whether p is an operator key.
func (p Principal) Operator() bool { return p.Role == RoleOperator }

// Service holds the engine's parts the API works with.
type Service struct {
	Store  *store.SQL
	Writer *writer.Writer
	Cards  *rating.Registry
	Env    *tenant.Env
	Now    func() time.Time // default time.Now
	// Jobs is the running job queue; nil where jobs do not run (the delivery log and
	// resends then answer ErrJobsUnavailable).
	Jobs Notifications

	mu         sync.RWMutex
	keys       map[[32]byte]cachedKey
	trusted    map[[32]byte]Principal // TrustSecret's: never evicted with the cache
	currencies sync.Map               // tenant id → money.Currency
	remember   [64]sync.Mutex
}

type cachedKey struct {
	p       Principal
	revoked bool
	until   time.Time
}

// keyCacheTTL bounds how long a key revoked by another process keeps working here.
const keyCacheTTL = 30 * time.Second

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// NewSecret returns a new random API key secret and its hash.
func NewSecret() (string, [32]byte) {
	var b [20]byte // 160 bits
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	secret := KeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	return secret, sha256.Sum256([]byte(secret))
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CreateKey makes a key for tenantID ("" with RoleOperator for an operator key) and returns
// it with its secret, which is not stored and cannot be shown again.
func (s *Service) CreateKey(ctx context.Context, tenantID, role, name string) (store.APIKey, string, error) {
	switch {
	case tenantID == "" && role != RoleOperator:
		return store.APIKey{}, "", fmt.Errorf("%w: role: an operator key has role %q", ErrInvalid, RoleOperator)
	case tenantID != "" && role == RoleOperator:
		return store.APIKey{}, "", fmt.Errorf("%w: role: a tenant key cannot be an operator key", ErrInvalid)
	}
	if tenantID != "" {
		if _, err := s.Store.Tenant(ctx, tenantID); err != nil {
			return store.APIKey{}, "", err
		}
	}
	secret, h := NewSecret()
	k := store.APIKey{ID: newID("key_"), Tenant: tenantID, Role: role, Name: name, Hash: h[:], CreatedAt: s.now()}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return store.APIKey{}, "", err
	}
	return k, secret, nil
}

// Authenticate returns the principal of a secret. Keys are cached for keyCacheTTL; a key
// revoked through this service stops working at once.
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) > 128 {
		return Principal{}, ErrUnauthenticated
	}
	h := sha256.Sum256([]byte(secret))
	now := time.Now()
	s.mu.RLock()
	p, trusted := s.trusted[h]
	c, ok := s.keys[h]
	s.mu.RUnlock()
	if trusted {
		return p, nil
	}
	if !ok || now.After(c.until) {
		k, err := s.Store.APIKeyByHash(ctx, h[:])
		switch {
		case errors.Is(err, store.ErrNotFound):
			c = cachedKey{revoked: true}
		case err != nil:
			return Principal{}, err
		default:
			c = cachedKey{p: Principal{KeyID: k.ID, Tenant: k.Tenant, Role: k.Role}, revoked: k.RevokedAt != nil}
		}
		c.until = now.Add(keyCacheTTL)
		s.mu.Lock()
		if s.keys == nil {
			s.keys = map[[32]byte]cachedKey{}
		}
		if len(s.keys) > 100_000 { // unknown secrets must not grow the cache without bound
			clear(s.keys)
		}
		s.keys[h] = c
		s.mu.Unlock()
	}
	if c.revoked {
		return Principal{}, ErrUnauthenticated
	}
	return c.p, nil
}

// RevokeKey revokes key id of tenantID ("" for operator keys).
func (s *Service) RevokeKey(ctx context.Context, tenantID, id string) error {
	if err := s.Store.RevokeAPIKey(ctx, tenantID, id, s.now()); err != nil {
		return err
	}
	s.mu.Lock()
	for h, c := range s.keys {
		if c.p.KeyID == id {
			c.revoked = true
			s.keys[h] = c
		}
	}
	s.mu.Unlock()
	return nil
}

// CreateTenant creates a tenant with an empty balance.
func (s *Service) CreateTenant(ctx context.Context, id, name, currency string) (store.Tenant, error) {
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return store.Tenant{}, fmt.Errorf("%w: currency: %v", ErrInvalid, err)
	}
	t := store.Tenant{ID: id, Name: name, Currency: cur, CreatedAt: s.now()}
	if err := s.Store.CreateTenant(ctx, t); err != nil {
		return store.Tenant{}, err
	}
	return t, nil
}

// Submit runs cmd for tenantID through the writer. idem is the caller's idempotency key:
// the writer stores the command's result under "api:"+idem, so a replay returns it and a
// different command under the same key is writer.ErrIdempotencyMismatch. Without one, the
// command gets a fresh key (no replay protection). Commands with their own key (settle,
// release, CDRs: the call; authorize: the open call) ignore idem.
func (s *Service) Submit(ctx context.Context, tenantID, idem string, cmd tenant.Command) (tenant.Result, error) {
	var key string
	switch cmd.(type) {
	case writer.Keyed, writer.StateKeyed:
		// The writer keys these itself and drops ours: no key to make (most call requests).
	default:
		key = "api:" + idem
		if idem == "" {
			key = newID("anon:")
		}
	}
	return s.Writer.Submit(ctx, tenantID, key, cmd)
}

// Remember runs fn once per (scope, idem): a later call with the same key and the same
// request hash returns the stored status and body instead (replayed true); with another
// hash, ErrReplayMismatch. store keeps what fn returns as the stored body (it may leave out
// what must not be kept, such as a secret). Without idem, fn just runs.
func (s *Service) Remember(ctx context.Context, scope, idem string, hash []byte,
	fn func() (status int, body, stored []byte, err error)) (status int, body []byte, replayed bool, err error) {
	if idem != "" {
		// Requests racing with one key in this process run one at a time: the second finds
		// the first's stored response.
		h := fnv.New32a()
		h.Write([]byte(scope + "\x00" + idem))
		m := &s.remember[h.Sum32()%uint32(len(s.remember))]
		m.Lock()
		defer m.Unlock()
		r, err := s.Store.StoredResponse(ctx, scope, idem)
		switch {
		case err == nil:
			if string(r.Hash) != string(hash) {
				return 0, nil, false, ErrReplayMismatch
			}
			return r.Status, r.Body, true, nil
		case !errors.Is(err, store.ErrNotFound):
			return 0, nil, false, err
		}
	}
	status, body, stored, err := fn()
	if err != nil || idem == "" {
		return status, body, false, err
	}
	if err := s.Store.SaveResponse(ctx, scope, idem, store.StoredResponse{Hash: hash, Status: status, Body: stored}, s.now()); err != nil &&
		!errors.Is(err, store.ErrExists) {
		return 0, nil, false, err
	}
	return status, body, false, nil
}

// State reads a tenant's committed state.
func (s *Service) State(ctx context.Context, tenantID string) (*tenant.State, error) {
	return s.Store.State(ctx, tenantID, s.now())
}

// Directory reads a tenant's committed directory.
func (s *Service) Directory(ctx context.Context, tenantID string) (*directory.Directory, error) {
	return s.Store.Directory(ctx, tenantID)
}

// ImportRateCard stores a rate card CSV as the next version of (svc, currency).
func (s *Service) ImportRateCard(ctx context.Context, svc rating.Service, currency string, data []byte) (*rating.Card, error) {
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return nil, fmt.Errorf("%w: currency: %v", ErrInvalid, err)
	}
	if _, ok := rating.ParseService(string(svc)); !ok {
		return nil, fmt.Errorf("%w: service: want outbound, dial_out or toll_free", ErrInvalid)
	}
	return s.Store.ImportRateCard(ctx, s.Cards, svc, cur, data, s.now())
}

// RegisterOperatorSecret stores secret (chosen by the operator, e.g. from a secret store) as
// an operator key, unless it is stored already.
func (s *Service) RegisterOperatorSecret(ctx context.Context, secret, name string) error {
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) < 32 || len(secret) > 128 {
		return fmt.Errorf("%w: an operator key starts with %q and has 32 to 128 characters", ErrInvalid, KeyPrefix)
	}
	h := sha256.Sum256([]byte(secret))
	if _, err := s.Store.APIKeyByHash(ctx, h[:]); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	err := s.Store.CreateAPIKey(ctx, store.APIKey{ID: newID("key_"), Role: RoleOperator, Name: name, Hash: h[:], CreatedAt: s.now()})
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	return err
}

// Currency returns a tenant's currency, which never changes once created (cached).
func (s *Service) Currency(ctx context.Context, tenantID string) (money.Currency, error) {
	if c, ok := s.currencies.Load(tenantID); ok {
		return c.(money.Currency), nil
	}
	t, err := s.Store.Tenant(ctx, tenantID)
	if err != nil {
		return money.Currency{}, err
	}
	s.currencies.Store(tenantID, t.Currency)
	return t.Currency, nil
}

// TrustSecret makes secret authenticate as p in this process only, without storing it:
// the CLI's --db mode runs the API in-process under such a key, so that nothing it does
// leaves a key behind in the database.
func (s *Service) TrustSecret(secret string, p Principal) {
	h := sha256.Sum256([]byte(secret))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trusted == nil {
		s.trusted = map[[32]byte]Principal{}
	}
	s.trusted[h] = p
}

// Deliveries returns the tenant's last limit delivery tries, newest first.
func (s *Service) Deliveries(ctx context.Context, tenantID string, limit int) ([]jobs.Delivery, error) {
	if s.Jobs == nil {
		return nil, ErrJobsUnavailable
	}
	if _, err := s.Store.Tenant(ctx, tenantID); err != nil {
		return nil, err
	}
	return s.Jobs.TenantDeliveries(ctx, tenantID, limit)
}

// Resend enqueues the logged notification eventID of tenantID again, to every target or
// only target ("email", "webhook:<id>"), and returns the resend's name.
func (s *Service) Resend(ctx context.Context, tenantID, eventID, target string) (string, error) {
	if s.Jobs == nil {
		return "", ErrJobsUnavailable
	}
	ev, err := s.Store.NotifyEvent(ctx, tenantID, eventID)
	if err != nil {
		return "", err
	}
	return s.Jobs.Resend(ctx, ev, target, s.now())
}
