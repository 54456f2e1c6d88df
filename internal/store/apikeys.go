package store

import (
	"context"
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/tenant"
)

// APIKey is an API key as stored: its secret only as a SHA-256 hash. Tenant is "" for an
// operator key.
type APIKey struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant,omitempty"`
	Role      string     `json:"role"`
	Name      string     `json:"name"`
	Hash      []byte     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreateAPIKey stores k; ErrExists when its id or hash is taken.
func (s *SQL) CreateAPIKey(ctx context.Context, k APIKey) error {
	return s.retryTx(ctx, func(tx Tx) error {
		q := tx.(*sqlTx).q
		n, err := q.exec(ctx, `INSERT INTO api_keys (id, tenant_id, role, name, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, k.ID, k.Tenant, k.Role, k.Name, k.Hash, k.CreatedAt.UnixNano())
		if err == nil && n == 0 {
			err = fmt.Errorf("api key %q: %w", k.ID, ErrExists)
		}
		return err
	})
}

const apiKeyCols = `id, tenant_id, role, name, hash, created_at, revoked_at`

func (s *SQL) apiKeys(ctx context.Context, where string, args ...any) ([]APIKey, error) {
	var out []APIKey
	err := each(ctx, s.read, `SELECT `+apiKeyCols+` FROM api_keys `+where, args, func(r rows) error {
		var k APIKey
		var at int64
		var rev *int64
		if err := r.Scan(&k.ID, &k.Tenant, &k.Role, &k.Name, &k.Hash, &at, &rev); err != nil {
			return err
		}
		k.CreatedAt = fromNano(at)
		if rev != nil {
			t := fromNano(*rev)
			k.RevokedAt = &t
		}
		out = append(out, k)
		return nil
	})
	return out, err
}

// APIKeyByHash finds the key whose secret hashes to hash, revoked or not.
func (s *SQL) APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	ks, err := s.apiKeys(ctx, `WHERE hash = ?`, hash)
	if err != nil {
		return APIKey{}, err
	}
	if len(ks) == 0 {
		return APIKey{}, ErrNotFound
	}
	return ks[0], nil
}

// APIKeys lists the keys of tenant ("" for operator keys) with id > after, by id.
func (s *SQL) APIKeys(ctx context.Context, tenantID, after string, limit int) ([]APIKey, error) {
	return s.apiKeys(ctx, `WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`, tenantID, after, limit)
}

// RevokeAPIKey marks key id of tenantID revoked; ErrNotFound when it has no such key.
func (s *SQL) RevokeAPIKey(ctx context.Context, tenantID, id string, at time.Time) error {
	return s.retryTx(ctx, func(tx Tx) error {
		n, err := tx.(*sqlTx).q.exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant_id = ? AND id = ?`,
			at.UnixNano(), tenantID, id)
		if err == nil && n == 0 {
			err = fmt.Errorf("api key %q: %w", id, ErrNotFound)
		}
		return err
	})
}

// StoredResponse is the answer given to a POST under an idempotency key.
type StoredResponse struct {
	Hash   []byte
	Status int
	Body   []byte
}

// StoredResponse returns the response kept under (scope, key); ErrNotFound when none.
func (s *SQL) StoredResponse(ctx context.Context, scope, key string) (StoredResponse, error) {
	var out []StoredResponse
	err := each(ctx, s.read, `SELECT request_hash, status, body FROM api_responses WHERE scope = ? AND idem_key = ?`,
		[]any{scope, key}, func(r rows) error {
			var sr StoredResponse
			if err := r.Scan(&sr.Hash, &sr.Status, &sr.Body); err != nil {
				return err
			}
			out = append(out, sr)
			return nil
		})
	if err != nil {
		return StoredResponse{}, err
	}
	if len(out) == 0 {
		return StoredResponse{}, ErrNotFound
	}
	return out[0], nil
}

// SaveResponse keeps a response under (scope, key); ErrExists when one is kept already
// (a concurrent request with the same key won).
func (s *SQL) SaveResponse(ctx context.Context, scope, key string, r StoredResponse, at time.Time) error {
	return s.retryTx(ctx, func(tx Tx) error {
		n, err := tx.(*sqlTx).q.exec(ctx, `INSERT INTO api_responses (scope, idem_key, request_hash, status, body, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, scope, key, r.Hash, r.Status, r.Body, at.UnixNano())
		if err == nil && n == 0 {
			err = ErrExists
		}
		return err
	})
}

// State reads a tenant's whole committed state (directory, calls, recharge settings) as
// the writer would load it at now; ErrNotFound for an unknown tenant.
func (s *SQL) State(ctx context.Context, id string, now time.Time) (*tenant.State, error) {
	st, _, err := loadState(ctx, s.read, id, now)
	return st, err
}

// Directory reads a tenant's directory as committed: users, numbers, licences, billing
// country, contacts and webhooks (the API, and the report engine, which masks numbers and
// sizes pools with it). ErrNotFound for an unknown tenant.
func (s *SQL) Directory(ctx context.Context, id string) (*directory.Directory, error) {
	if _, err := s.Tenant(ctx, id); err != nil {
		return nil, err
	}
	return loadDirectory(ctx, s.read, id)
}

// OpsCount is one labelled count for the operations metrics.
type OpsCount struct {
	Name   string // "outbox", "reservations", "calls", "lots"
	Labels [2]string
	N      float64
}

// OpsCounts counts, across tenants, the outbox by kind and state, open reservations, calls
// in progress, and lots by source (how credits came in: purchases, auto-recharges).
func (s *SQL) OpsCounts(ctx context.Context) ([]OpsCount, error) {
	var out []OpsCount
	err := each(ctx, s.read, `SELECT kind, CASE WHEN done_at IS NULL THEN 'pending' ELSE 'done' END, COUNT(*) FROM outbox
		GROUP BY kind, CASE WHEN done_at IS NULL THEN 'pending' ELSE 'done' END`, nil, func(r rows) error {
		c := OpsCount{Name: "outbox"}
		var n int64
		if err := r.Scan(&c.Labels[0], &c.Labels[1], &n); err != nil {
			return err
		}
		c.N = float64(n)
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, s.read, `SELECT source, COUNT(*) FROM lots GROUP BY source`, nil, func(r rows) error {
		c := OpsCount{Name: "lots"}
		var n int64
		if err := r.Scan(&c.Labels[0], &n); err != nil {
			return err
		}
		c.N = float64(n)
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, q := range []struct{ name, sql string }{
		{"reservations", `SELECT COUNT(*) FROM reservations`},
		{"calls", `SELECT COUNT(*) FROM open_calls`},
	} {
		err = each(ctx, s.read, q.sql, nil, func(r rows) error {
			var n int64
			if err := r.Scan(&n); err != nil {
				return err
			}
			out = append(out, OpsCount{Name: q.name, N: float64(n)})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
