package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Tick asks the engine to bring one tenant up to date at a time: expire lots
// whose time has come, send expiry warnings that are due (30, 7, 1 days),
// reset monthly pools, release reservations past their TTL. Enqueue one with
// ScheduledAt set to the exact instant something is due (EnqueueManyTx with
// river.InsertOpts{ScheduledAt: t}); Ticker decides what is due, so an early,
// late or repeated Tick is harmless. Unique per tenant while one is waiting:
// two state changes scheduling a tick for the same tenant insert one.
type Tick struct {
	Tenant string `json:"tenant" river:"unique"`
}

// KindTick is Tick's River kind.
const KindTick = "tick"

func (Tick) Kind() string { return KindTick }

// InsertOpts puts ticks on their queue; unique among jobs not yet running
// (a tick scheduled while another runs must still run afterwards).
func (Tick) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTicks, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{
		ByArgs:  true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRunning, rivertype.JobStateRetryable},
	}}
}

// Sweep asks the engine to find every tenant with something due and tick it
// (a safety net under the scheduled Ticks, and the source of time-based work
// nobody scheduled). Config.SweepEvery enqueues it periodically.
type Sweep struct{}

// KindSweep is Sweep's River kind.
const KindSweep = "sweep"

func (Sweep) Kind() string { return KindSweep }

// InsertOpts puts sweeps on the ticks queue, one waiting at a time.
func (Sweep) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTicks, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{
		ByArgs:  true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRunning, rivertype.JobStateRetryable},
	}}
}

// Ticker is the engine's time-driven work. Both calls must be idempotent
// (a job can run twice after a crash) and must do their money changes through
// the writer, never inside the job.
type Ticker interface {
	Tick(ctx context.Context, tenant string, now time.Time) error
	Sweep(ctx context.Context, now time.Time) error
}

// TickWorker works Tick jobs.
type TickWorker struct {
	river.WorkerDefaults[Tick]
	Ticker Ticker
}

func (w *TickWorker) Work(ctx context.Context, job *river.Job[Tick]) error {
	return w.Ticker.Tick(ctx, job.Args.Tenant, time.Now().UTC())
}

// SweepWorker works Sweep jobs.
type SweepWorker struct {
	river.WorkerDefaults[Sweep]
	Ticker Ticker
}

func (w *SweepWorker) Work(ctx context.Context, job *river.Job[Sweep]) error {
	return w.Ticker.Sweep(ctx, time.Now().UTC())
}
