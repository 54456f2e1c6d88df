package writer

import (
	"context"
	"log/slog"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
)

// DueLister finds the tenants with something due; *store.SQL is one.
type DueLister interface {
	DueTenants(ctx context.Context, now time.Time) ([]string, error)
}

// Sweep applies what falls due to tenants that send no commands: every interval it asks
// due for the tenants with a call, reservation or lot past its time and submits a Tick for
// each, so that holds are released and lots forfeited (dated at their expiry) without
// waiting for the tenant's next call. It returns when ctx ends.
func (w *Writer) Sweep(ctx context.Context, due DueLister, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := w.SweepOnce(ctx, due); err != nil && ctx.Err() == nil && log != nil {
				log.Warn("sweep", "err", err)
			}
		}
	}
}

// SweepOnce ticks every tenant with something due now and reports how many it ticked.
func (w *Writer) SweepOnce(ctx context.Context, due DueLister) (int, error) {
	ids, err := due.DueTenants(ctx, w.clock.Now())
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if _, err := w.Submit(ctx, id, "", ledger.Tick{}); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}
