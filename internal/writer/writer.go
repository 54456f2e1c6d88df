// Package writer is the one way money-changing commands reach the database. Commands of a
// tenant always go to the same shard and are applied in arrival order, in memory, to the
// shard's cached tenant states; a shard commits the commands it has applied in batches of
// one transaction each (group commit), and while one batch commits it applies the next on
// top of it (pipeline.go). Each caller is answered only after its batch's transaction is
// durable, and never before a command taken before it.
//
// Several processes may share one PostgreSQL: each account row carries a version, a
// commit that finds it moved rolls back, reloads the accounts and applies the batch again;
// the batch applied on top of it is applied again after it.
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
	epoch uint64 // counts the times cached states were dropped
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
			Help: "Time to write and durably commit one batch (applied while the one before committed).", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
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

// process runs batch in transactions of its own until it commits or fails for good, then
// answers its callers. first, when not nil, is how an attempt the pipeline made ended.
func (sh *shard) process(batch []*request, first error) {
	w := sh.w
	start := time.Now()
	err := first
	attempt, lookup := 1, false // keys are almost always new: the insert itself detects the others
	if err == nil {
		err = sh.attempt(batch, lookup)
	}
	for err != nil && w.st.Retryable(err) && attempt < w.cfg.MaxAttempts {
		if errors.Is(err, store.ErrKeyExists) {
			lookup = true
		} else {
			w.retries.Inc()
			time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 8))))
		}
		attempt++
		err = sh.attempt(batch, lookup)
	}
	if err != nil && len(batch) > 1 && !w.st.Retryable(err) {
		// A command the database refuses (or one that panics) must not fail the others of
		// its batch, which may be other tenants': run each alone, so only it fails.
		for _, r := range batch {
			sh.process([]*request{r}, nil)
		}
		return
	}
	sh.answer(batch, start, err)
}

// answer notes a finished batch in the metrics and answers its callers.
func (sh *shard) answer(batch []*request, start time.Time, err error) {
	sh.w.batchSize.Observe(float64(len(batch)))
	sh.w.commitSeconds.Observe(time.Since(start).Seconds())
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

// attempt applies batch and writes it in one transaction, loading the tenants it needs.
func (sh *shard) attempt(batch []*request, lookup bool) error {
	ctx := store.BatchContext(context.Background()) // the batch outlives any one caller's context
	b := sh.newBuilder(nil)
	b.batch = batch
	err := protect(func() error {
		return sh.w.st.WriteTx(ctx, func(tx store.Tx) error { return sh.apply(ctx, tx, b, lookup) })
	})
	if err != nil {
		sh.forget(b, err)
		return err
	}
	b.committed()
	return nil
}

// ErrInternal reports a bug caught in the writer: the batch was not committed.
var ErrInternal = errors.New("internal error")

// protect runs fn and turns a panic into ErrInternal, so one bad command cannot stop the
// shard and leave every caller waiting.
func protect(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrInternal, r)
		}
	}()
	return fn()
}

// forget drops the cached state of the tenants b touched, which ran ahead of the database
// when b was not committed; after a panic the states may be half changed anywhere, so all
// are dropped. They are reloaded on their next command.
func (sh *shard) forget(b *builder, err error) {
	sh.epoch++
	if errors.Is(err, ErrInternal) {
		clear(sh.cache)
		return
	}
	for _, m := range b.order {
		delete(sh.cache, m.id)
	}
}

// mutation collects what a batch changed for one tenant.
type mutation struct {
	id     string
	c      *cached
	lots   map[int64]int // lot id → index in m.Lots
	resIDs map[string]struct{}
	m      store.Mutation
	saved  bool
}

// builder applies the commands of a batch one by one to the cached tenants and collects
// what they change.
type builder struct {
	sh       *shard
	batch    []*request
	byTenant map[string]*mutation
	order    []*mutation
	records  map[store.Key]store.CommandRecord // the keys the batch records, or looked up
	prev     map[store.Key]store.CommandRecord // the keys the batch in flight records
	now      time.Time
	limit    int    // how many commands the batch may take (see limitAfter)
	epoch    uint64 // sh.epoch when the batch began: the states it applies to are still cached
	err      error  // the batch cannot be built (a panic, a result that does not encode)
}

func (sh *shard) newBuilder(prev map[store.Key]store.CommandRecord) *builder {
	return &builder{sh: sh, byTenant: map[string]*mutation{}, records: map[store.Key]store.CommandRecord{},
		prev: prev, epoch: sh.epoch}
}

// apply runs the batch against the cached tenants inside tx, loading those not cached, and
// writes the changes.
func (sh *shard) apply(ctx context.Context, tx store.Tx, b *builder, lookup bool) error {
	now := sh.w.clock.Now().UTC()
	if lookup {
		var keys []store.Key
		for _, r := range b.batch {
			if r.key != "" {
				keys = append(keys, store.Key{Tenant: r.tenant, Key: r.key})
			}
		}
		var err error
		if b.records, err = tx.LookupCommands(ctx, keys); err != nil {
			return err
		}
	}
	for _, r := range b.batch {
		c := sh.cache[r.tenant]
		if c == nil {
			st, version, err := tx.LoadState(ctx, r.tenant, now)
			if errors.Is(err, store.ErrNotFound) {
				r.res, r.err = Result{}, err
				continue
			}
			if err != nil {
				return err
			}
			c = &cached{state: st, version: version}
			sh.cache[r.tenant] = c
		}
		if err := b.add(r, c, now); err != nil {
			return err
		}
	}
	if !lookup {
		if err := replayRefused(ctx, tx, b.batch); err != nil {
			return err
		}
	}
	sb, err := b.prepare()
	if err != nil || sb == nil {
		return err
	}
	return tx.Write(ctx, sb)
}

// add applies r to its tenant's cached state c at now.
func (b *builder) add(r *request, c *cached, now time.Time) error {
	r.res, r.err = Result{}, nil
	b.now = now
	m := b.byTenant[r.tenant]
	if m == nil {
		m = &mutation{id: r.tenant, c: c, lots: map[int64]int{}, resIDs: map[string]struct{}{}}
		b.byTenant[r.tenant] = m
		b.order = append(b.order, m)
	}
	if r.key != "" {
		k := store.Key{Tenant: r.tenant, Key: r.key}
		rec, ok := b.records[k]
		if !ok {
			rec, ok = b.prev[k]
		}
		if ok {
			r.res, r.err = replay(r.tenant, rec, r.hash)
			return nil
		}
	}
	res, eff, err := tenant.Apply(c.state, r.cmd, now, b.sh.w.cfg.Env)
	m.add(&eff)
	r.res, r.err = res, err
	if err == nil && r.key != "" {
		rec := store.CommandRecord{Key: r.key, Kind: r.cmd.Name(), Hash: r.hash, At: now}
		if callID, leg, ok := tenant.CallOfKey(r.key); ok {
			// The key names a call: its usage row is the record (migration 00011).
			if rec.Result, err = usageRecord(r.tenant, &res); err != nil {
				return fmt.Errorf("result of %q: %w", r.key, err)
			}
			rec.Usage = true
			m.keepInUsage(rec, callID, leg, eff.Usage)
		} else {
			if rec.Result, err = encodeRecord(res); err != nil {
				return fmt.Errorf("result of %q: %w", r.key, err)
			}
			m.m.Commands = append(m.m.Commands, rec)
		}
		b.records[store.Key{Tenant: r.tenant, Key: r.key}] = rec // a second use of the key is a replay
	}
	return nil
}

// prepare builds the statements that write what the batch changed, at the versions cached
// now; nil when it changed nothing. The states may change once it returns.
func (b *builder) prepare() (*store.Batch, error) {
	var save []*store.Mutation
	for _, m := range b.order {
		mm := &m.m
		if len(mm.Entries)+len(mm.Lots)+len(m.resIDs)+len(mm.Commands)+len(mm.Pools)+len(mm.Spend)+len(mm.Calls)+
			len(mm.Usage)+len(mm.BlockEvents)+len(mm.Refusals)+len(mm.Outbox)+len(mm.Receipts) == 0 && mm.Dir.Empty() && !mm.Recharge {
			continue
		}
		st := m.c.state
		a := st.Account
		mm.Reservations, mm.Closed = mm.Reservations[:0], mm.Closed[:0]
		for id := range m.resIDs {
			if res, ok := a.Reservations[id]; ok {
				mm.Reservations = append(mm.Reservations, *res)
			} else {
				mm.Closed = append(mm.Closed, id)
			}
		}
		mm.Account, mm.State, mm.Version, mm.At = a, st, m.c.version, b.now
		m.saved = true
		save = append(save, mm)
	}
	if len(save) == 0 {
		return nil, nil
	}
	return store.Prepare(save)
}

// committed notes that the batch's transaction committed: the saved accounts moved one
// version on.
func (b *builder) committed() {
	for _, m := range b.order {
		if m.saved {
			m.c.version++
		}
	}
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
		if refusedWithKey(r) {
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

// refusedWithKey reports whether r was refused under a key that may be stored already.
func refusedWithKey(r *request) bool { return r.err != nil && r.key != "" }

// hasRefused reports whether replayRefused has anything to look up in batch.
func hasRefused(batch []*request) bool {
	for _, r := range batch {
		if refusedWithKey(r) {
			return true
		}
	}
	return false
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
