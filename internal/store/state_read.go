package store

import (
	"context"
	"time"

	"github.com/commcredits/commcredits/internal/tenant"
)

// TenantState reads a tenant's whole committed state through the read connection, as the
// writer would load it at now, for pages and reports that show it. It is a snapshot: change
// it only through the writer.
func (s *SQL) TenantState(ctx context.Context, id string, now time.Time) (*tenant.State, error) {
	st, _, err := loadState(ctx, s.read, id, now)
	return st, err
}
