// Package metrics exposes gauges read from the store when Prometheus scrapes: the outbox
// depth (pending side effects), open reservations, calls in progress, and lots by source
// (how many purchases and auto-recharges were credited).
package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commcredits/commcredits/internal/store"
)

// Counter is the store as the collector reads it.
type Counter interface {
	OpsCounts(ctx context.Context) ([]store.OpsCount, error)
}

type collector struct {
	st                  Counter
	log                 *slog.Logger
	outbox, lots        *prometheus.Desc
	reservations, calls *prometheus.Desc
}

// NewStoreCollector returns a collector that queries st on each scrape (bounded to 2s).
func NewStoreCollector(st Counter, log *slog.Logger) prometheus.Collector {
	return &collector{st: st, log: log,
		outbox: prometheus.NewDesc("commcredits_outbox_items", "Outbox items by kind (start_attempt, schedule_retry, failed, alert, notify) and state (pending is the depth).",
			[]string{"kind", "state"}, nil),
		lots: prometheus.NewDesc("commcredits_lots", "Lots credited, by source (purchase, auto_recharge, …): recharge outcomes that succeeded.",
			[]string{"source"}, nil),
		reservations: prometheus.NewDesc("commcredits_reservations_open", "Open ledger reservations across tenants.", nil, nil),
		calls:        prometheus.NewDesc("commcredits_calls_open", "Calls in progress across tenants.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.outbox
	ch <- c.lots
	ch <- c.reservations
	ch <- c.calls
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.st.OpsCounts(ctx)
	if err != nil {
		c.log.Warn("metrics: store counts", "err", err)
		return
	}
	for _, n := range counts {
		switch n.Name {
		case "outbox":
			ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, n.N, n.Labels[0], n.Labels[1])
		case "lots":
			ch <- prometheus.MustNewConstMetric(c.lots, prometheus.GaugeValue, n.N, n.Labels[0])
		case "reservations":
			ch <- prometheus.MustNewConstMetric(c.reservations, prometheus.GaugeValue, n.N)
		case "calls":
			ch <- prometheus.MustNewConstMetric(c.calls, prometheus.GaugeValue, n.N)
		}
	}
}
