// Package writer is the one way money-changing commands reach the database. Commands of a
// tenant always go to the same shard and are applied in arrival order; a shard takes every
// command waiting, applies them to its cached accounts and commits them in one transaction
// (group commit). Each caller is answered only after that transaction is durable.
//
// Several processes may share one PostgreSQL: each account row carries a version, a
// commit that finds it moved rolls back, reloads the accounts and applies the batch again.
package writer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
)

// Errors of the writer itself; ledger refusals come back as the ledger's typed errors.
var (
	ErrClosed              = errors.New("writer closed")
	ErrMissingKey          = errors.New("idempotency key is required")
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different command")
)

// Clock gives the time commands are applied at; simulation injects its own.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// Config tunes the writer. Zero values take the defaults.
type Config struct {
	Shards      int         // independent committers; default the store's WriteShards (1 on SQLite)
	MaxBatch    int         // commands per transaction, default 1000
	MaxAttempts int         // per batch on conflicts and serialization failures, default 30
	Env         *tenant.Env // catalog, rate cards, ledger and call settings

	// MaxBulkBatch is how many commands sent with SubmitBatch one transaction may take,
	// default DefaultMaxBulkBatch. Bulk imports gain from big batches (each tenant's rows of
	// one batch share their table pages, so a commit writes fewer pages per command); an
	// interactive command that joins a batch stops it growing past MaxBatch, so its wait
	// stays that of a normal batch.
	MaxBulkBatch int
}

// DefaultMaxBulkBatch is Config.MaxBulkBatch's default.
const DefaultMaxBulkBatch = 8192

// Result is a command's outcome; Replayed is true when the key had been seen and the stored
// outcome was returned without applying anything.
type Result = tenant.Result

// Keyed is a command whose own identity is its idempotency key: a call is settled or
// its CDR booked once, whatever key the sender chose.
type Keyed interface{ IdempotencyKey() string }

// StateKeyed is a command the tenant state deduplicates itself (its effect row carries
// its key); the writer stores no command record for it.
type StateKeyed interface{ StateKeyed() }

// Writer serializes and group-commits ledger commands.
type Writer struct {
	st     store.Store
	clock  Clock
	cfg    Config
	seed   maphash.Seed
	shards []*shard

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup

	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	retries       prometheus.Counter
}

type request struct {
	tenant string
	key    string
	cmd    tenant.Command
	hash   []byte
	done   chan struct{} // or group, for SubmitBatch
	group  *group
	res    Result
	err    error
}

type cached struct {
	state   *tenant.State
	version int64
}

type shard struct {
	w     *Writer
	ch    chan *request
	cache map[string]*cached
}

// New starts a writer on st. Close stops it after the commands already queued.
func New(st store.Store, clock Clock, cfg Config) *Writer {
	if cfg.Shards <= 0 {
		cfg.Shards = 1
		if s, ok := st.(interface{ WriteShards() int }); ok {
			cfg.Shards = max(1, s.WriteShards())
		}
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.MaxBulkBatch <= 0 {
		cfg.MaxBulkBatch = DefaultMaxBulkBatch
	}
	cfg.MaxBulkBatch = max(cfg.MaxBulkBatch, cfg.MaxBatch)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 30
	}
	if cfg.Env == nil {
		cfg.Env = &tenant.Env{}
	}
	if cfg.Env.Catalog == nil {
		cfg.Env.Catalog = plans.Default()
	}
	if cfg.Env.Cards == nil {
		cfg.Env.Cards = rating.NewRegistry() // no cards: calls that need a rate are refused, no_rate_card
	}
	w := &Writer{st: st, clock: clock, cfg: cfg, seed: maphash.MakeSeed(),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "commcredits_writer_batch_size",
			Help: "Commands per committed batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "commcredits_writer_commit_seconds",
			Help: "Time to apply and durably commit one batch.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "commcredits_writer_retries_total",
			Help: "Batches run again after a conflict or serialization failure."}),
	}
	for range cfg.Shards {
		// Room for a whole bulk batch: a batch takes only what is waiting when it starts.
		sh := &shard{w: w, ch: make(chan *request, max(4*cfg.MaxBatch, 2*cfg.MaxBulkBatch)), cache: map[string]*cached{}}
		w.shards = append(w.shards, sh)
		w.wg.Add(1)
		go sh.run()
	}
	return w
}

// Collectors returns the writer's Prometheus metrics.
func (w *Writer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.batchSize, w.commitSeconds, w.retries}
}

// Submit applies cmd to tenant's ledger under the idempotency key and returns once the
// effect is durable. A key seen before with the same command returns the stored result;
// with another command, ErrIdempotencyMismatch. Only Tick may go without a key. A refused
// command (a ledger error) stores nothing under its key, so it may be retried.
func (w *Writer) Submit(ctx context.Context, tenantID, key string, cmd tenant.Command) (Result, error) {
	req, err := newRequest(tenantID, key, cmd)
	if err != nil {
		return Result{}, err
	}
	req.done = make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return Result{}, ErrClosed
	}
	select {
	case w.shardOf(tenantID).ch <- req:
	case <-ctx.Done():
		w.mu.RUnlock()
		return Result{}, ctx.Err()
	}
	w.mu.RUnlock()
	select {
	case <-req.done:
		return req.res, req.err
	case <-ctx.Done():
		// The command may still commit; a retry with the same key finds its result.
		return Result{}, ctx.Err()
	}
}

func newRequest(tenantID, key string, cmd tenant.Command) (*request, error) {
	switch k := cmd.(type) {
	case Keyed:
		key = k.IdempotencyKey()
	case StateKeyed:
		key = ""
	case ledger.Tick:
	default:
		if key == "" {
			return nil, ErrMissingKey
		}
	}
	req := &request{tenant: tenantID, key: key, cmd: cmd}
	if key != "" {
		req.hash = commandHash(cmd)
	}
	return req, nil
}

func (w *Writer) shardOf(tenantID string) *shard {
	return w.shards[maphash.String(w.seed, tenantID)%uint64(len(w.shards))]
}

// Item is one command of SubmitBatch.
type Item struct {
	Tenant string
	Key    string // as Submit's key
	Cmd    tenant.Command
}

// Outcome is what Submit would have returned for one item.
type Outcome struct {
	Result Result
	Err    error
}

// SubmitBatch submits items as Submit does, each with its own key, result and error, and
// returns once every one is durable (or ctx ends). It saves a bulk sender one goroutine and
// one wake-up per command; the writer applies and commits the items exactly as if each had
// been submitted on its own, in order, so a key repeated within items is a replay of its
// first use. When ctx ends first, every item not yet answered gets ctx's error; it may still
// commit, and submitting it again under its key finds its result.
func (w *Writer) SubmitBatch(ctx context.Context, items []Item) []Outcome {
	out := make([]Outcome, len(items))
	reqs := make([]*request, len(items))
	g := &group{done: make(chan struct{})}
	for i, it := range items {
		r, err := newRequest(it.Tenant, it.Key, it.Cmd)
		if err != nil {
			out[i].Err = err
			continue
		}
		r.group = g
		reqs[i] = r
		g.left.Add(1)
	}
	if g.left.Load() == 0 {
		return out
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		for i, r := range reqs {
			if r != nil {
				out[i].Err = ErrClosed
			}
		}
		return out
	}
send:
	for i, r := range reqs {
		if r == nil {
			continue
		}
		select {
		case w.shardOf(r.tenant).ch <- r:
		case <-ctx.Done():
			for _, r := range reqs[i:] {
				if r != nil {
					r.err = ctx.Err() // never sent
					g.finish()
				}
			}
			break send
		}
	}
	w.mu.RUnlock()
	select {
	case <-g.done:
		for i, r := range reqs {
			if r != nil {
				out[i] = Outcome{r.res, r.err}
			}
		}
	case <-ctx.Done():
		for i, r := range reqs {
			if r != nil {
				out[i].Err = ctx.Err()
			}
		}
	}
	return out
}

// group is answered when its last request is.
type group struct {
	left atomic.Int64
	done chan struct{}
}

func (g *group) finish() {
	if g.left.Add(-1) == 0 {
		close(g.done)
	}
}

// Queued is the number of commands waiting for their shard to take them into a batch.
func (w *Writer) Queued() int {
	n := 0
	for _, sh := range w.shards {
		n += len(sh.ch)
	}
	return n
}

// Close stops accepting commands, commits those already queued and waits for them.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		for _, sh := range w.shards {
			close(sh.ch)
		}
	}
	w.mu.Unlock()
	w.wg.Wait()
	return nil
}

func commandHash(cmd tenant.Command) []byte {
	b, _ := json.Marshal(cmd) // commands are plain structs: Marshal cannot fail
	h := sha256.New()
	h.Write([]byte(cmd.Name()))
	h.Write(b)
	return h.Sum(nil)
}

func (sh *shard) run() {
	defer sh.w.wg.Done()
	cfg := &sh.w.cfg
	batch := make([]*request, 0, cfg.MaxBatch)
	for first := range sh.ch {
		batch = append(batch[:0], first)
		limit := cfg.MaxBulkBatch
		if first.group == nil {
			limit = cfg.MaxBatch
		}
	fill:
		for len(batch) < limit {
			select {
			case r, ok := <-sh.ch:
				if !ok {
					break fill
				}
				batch = append(batch, r)
				if r.group == nil {
					limit = min(limit, max(cfg.MaxBatch, len(batch)))
				}
			default:
				break fill
			}
		}
		sh.process(batch)
		clear(batch)
	}
}

func (sh *shard) process(batch []*request) {
	w := sh.w
	ctx := store.BatchContext(context.Background()) // the batch outlives any one caller's context
	start := time.Now()
	var err error
	lookup := false // keys are almost always new: the insert itself detects the others
	for attempt := 1; ; attempt++ {
		var touched []*mutation
		err = sh.guard(func() error {
			return w.st.WriteTx(ctx, func(tx store.Tx) error {
				var err error
				touched, err = sh.apply(ctx, tx, batch, lookup)
				return err
			})
		})
		if err == nil {
			for _, m := range touched {
				if m.saved {
					sh.cache[m.id].version++
				}
			}
			break
		}
		for _, m := range touched {
			delete(sh.cache, m.id) // its in-memory state ran ahead of the database
		}
		if !w.st.Retryable(err) || attempt >= w.cfg.MaxAttempts {
			break
		}
		if errors.Is(err, store.ErrKeyExists) {
			lookup = true
			continue
		}
		w.retries.Inc()
		time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 8))))
	}
	if err != nil && len(batch) > 1 && !w.st.Retryable(err) {
		// A command the database refuses (or one that panics) must not fail the others of
		// its batch, which may be other tenants': run each alone, so only it fails.
		for _, r := range batch {
			sh.process([]*request{r})
		}
		return
	}
	w.batchSize.Observe(float64(len(batch)))
	w.commitSeconds.Observe(time.Since(start).Seconds())
	for _, r := range batch {
		if err != nil {
			r.res, r.err = Result{}, fmt.Errorf("commit: %w", err)
		}
		if r.group != nil {
			r.group.finish()
		} else {
			close(r.done)
		}
	}
}

// ErrInternal reports a bug caught in the writer: the batch was not committed.
var ErrInternal = errors.New("internal error")

// guard runs fn and turns a panic into ErrInternal, so one bad command cannot stop the shard
// and leave every caller waiting. The cached states may be half changed, so all are dropped
// and reloaded from the database on their next command.
func (sh *shard) guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			clear(sh.cache)
			err = fmt.Errorf("%w: %v", ErrInternal, r)
		}
	}()
	return fn()
}

// mutation collects what a batch changed for one tenant.
type mutation struct {
	id      string
	state   *tenant.State
	version int64
	lots    map[int64]int // lot id → index in m.Lots
	resIDs  map[string]struct{}
	m       store.Mutation
	saved   bool
}

// apply runs the batch against the cached tenants inside tx and saves the changes.
func (sh *shard) apply(ctx context.Context, tx store.Tx, batch []*request, lookup bool) ([]*mutation, error) {
	w := sh.w
	now := w.clock.Now().UTC()
	byTenant := map[string]*mutation{}
	var order []*mutation
	records := map[store.Key]store.CommandRecord{}
	if lookup {
		var keys []store.Key
		for _, r := range batch {
			if r.key != "" {
				keys = append(keys, store.Key{Tenant: r.tenant, Key: r.key})
			}
		}
		var err error
		if records, err = tx.LookupCommands(ctx, keys); err != nil {
			return nil, err
		}
	}
	for _, r := range batch {
		r.res, r.err = Result{}, nil
		m := byTenant[r.tenant]
		if m == nil {
			c := sh.cache[r.tenant]
			if c == nil {
				st, version, err := tx.LoadState(ctx, r.tenant, now)
				if errors.Is(err, store.ErrNotFound) {
					r.err = err
					continue
				}
				if err != nil {
					return order, err
				}
				c = &cached{state: st, version: version}
				sh.cache[r.tenant] = c
			}
			m = &mutation{id: r.tenant, state: c.state, version: c.version, lots: map[int64]int{}, resIDs: map[string]struct{}{}}
			byTenant[r.tenant] = m
			order = append(order, m)
		}
		if r.key != "" {
			if rec, ok := records[store.Key{Tenant: r.tenant, Key: r.key}]; ok {
				r.res, r.err = replay(r.tenant, rec, r.hash)
				continue
			}
		}
		res, eff, err := tenant.Apply(m.state, r.cmd, now, w.cfg.Env)
		m.add(&eff)
		r.res, r.err = res, err
		if err == nil && r.key != "" {
			rec := store.CommandRecord{Key: r.key, Kind: r.cmd.Name(), Hash: r.hash, At: now}
			if callID, leg, ok := tenant.CallOfKey(r.key); ok {
				// The key names a call: its usage row is the record (migration 00011).
				if rec.Result, err = usageRecord(r.tenant, &res); err != nil {
					return order, fmt.Errorf("result of %q: %w", r.key, err)
				}
				rec.Usage = true
				m.keepInUsage(rec, callID, leg, eff.Usage)
			} else {
				if rec.Result, err = encodeRecord(res); err != nil {
					return order, fmt.Errorf("result of %q: %w", r.key, err)
				}
				m.m.Commands = append(m.m.Commands, rec)
			}
			records[store.Key{Tenant: r.tenant, Key: r.key}] = rec // a second use of the key in this batch is a replay
		}
	}
	if !lookup {
		if err := replayRefused(ctx, tx, batch); err != nil {
			return order, err
		}
	}
	var save []*store.Mutation
	for _, m := range order {
		mm := &m.m
		if len(mm.Entries)+len(mm.Lots)+len(m.resIDs)+len(mm.Commands)+len(mm.Pools)+len(mm.Spend)+len(mm.Calls)+
			len(mm.Usage)+len(mm.BlockEvents)+len(mm.Refusals)+len(mm.Outbox)+len(mm.Receipts) == 0 && mm.Dir.Empty() && !mm.Recharge {
			continue
		}
		a := m.state.Account
		for id := range m.resIDs {
			if res, ok := a.Reservations[id]; ok {
				mm.Reservations = append(mm.Reservations, *res)
			} else {
				mm.Closed = append(mm.Closed, id)
			}
		}
		mm.Account, mm.State, mm.Version, mm.At = a, m.state, m.version, now
		m.saved = true
		save = append(save, mm)
	}
	if len(save) == 0 {
		return order, nil
	}
	return order, tx.Save(ctx, save)
}

func (m *mutation) add(e *tenant.Effects) {
	mm := &m.m
	mm.Entries = append(mm.Entries, e.Entries...)
	for _, l := range e.Lots {
		if i, ok := m.lots[l.ID]; ok {
			mm.Lots[i] = l
		} else {
			m.lots[l.ID] = len(mm.Lots)
			mm.Lots = append(mm.Lots, l)
		}
	}
	for _, id := range e.Reservations {
		m.resIDs[id] = struct{}{}
	}
	mm.Dir.Merge(e.Dir)
	mm.Pools = append(mm.Pools, e.Pools...)
	mm.Spend = append(mm.Spend, e.Spend...)
	mm.Calls = append(mm.Calls, e.Calls...)
	mm.Usage = append(mm.Usage, e.Usage...)
	mm.BlockEvents = append(mm.BlockEvents, e.Blocks...)
	mm.Refusals = append(mm.Refusals, e.Refusals...)
	mm.Recharge = mm.Recharge || e.Recharge
	mm.Outbox = append(mm.Outbox, e.Outbox...)
	mm.Receipts = append(mm.Receipts, e.Receipts...)
}

// replayRefused finds, among the commands refused in a batch run without lookups, those
// whose key is already stored: they are replays (a settle sent again after its reservation
// closed) and get the stored result. A refused command had no effect, so answering it from
// the store instead changes nothing else in the batch.
func replayRefused(ctx context.Context, tx store.Tx, batch []*request) error {
	var keys []store.Key
	for _, r := range batch {
		if r.err != nil && r.key != "" {
			keys = append(keys, store.Key{Tenant: r.tenant, Key: r.key})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	records, err := tx.LookupCommands(ctx, keys)
	if err != nil {
		return err
	}
	for _, r := range batch {
		if rec, ok := records[store.Key{Tenant: r.tenant, Key: r.key}]; ok && r.err != nil {
			r.res, r.err = replay(r.tenant, rec, r.hash)
		}
	}
	return nil
}

func replay(tenantID string, rec store.CommandRecord, hash []byte) (Result, error) {
	if string(rec.Hash) != string(hash) {
		return Result{}, fmt.Errorf("%w: key %q was used for %s", ErrIdempotencyMismatch, rec.Key, rec.Kind)
	}
	var r Result
	var err error
	if rec.Usage {
		r, err = decodeUsageRecord(rec.Result, tenantID, rec.Key)
	} else {
		r, err = decodeRecord(rec.Result)
	}
	if err != nil {
		return Result{}, fmt.Errorf("stored result of %q: %w", rec.Key, err)
	}
	r.Replayed = true
	return r, nil
}

// keepInUsage keeps rec, the record of a key that names the call callID/leg, in that call's
// usage row: the row the command just wrote (usage, the last rows of m's), or a row of zero
// seconds of its own when it wrote none (a release, a call of zero seconds).
func (m *mutation) keepInUsage(rec store.CommandRecord, callID, leg string, usage []charging.UsageRow) {
	mm := &m.m
	i := len(mm.Usage) - len(usage)
	for ; i < len(mm.Usage); i++ {
		if u := &mm.Usage[i]; u.CallID == callID && u.Leg == leg {
			break
		}
	}
	if i == len(mm.Usage) {
		mm.Usage = append(mm.Usage, charging.UsageRow{CallID: callID, Leg: leg})
	}
	for len(mm.UsageRecords) < i {
		mm.UsageRecords = append(mm.UsageRecords, store.CommandRecord{})
	}
	if i < len(mm.UsageRecords) {
		mm.UsageRecords[i] = rec
	} else {
		mm.UsageRecords = append(mm.UsageRecords, rec)
	}
}
