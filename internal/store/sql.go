package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/tenant"
)

// querier is the little both engines share: database/sql for SQLite, pgx for PostgreSQL.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	query(ctx context.Context, q string, args ...any) (rows, error)
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type sqlQ struct {
	q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
	// In the write transaction, statements are prepared once on the single write
	// connection and reused: parsing was a fifth of the writer's time.
	tx    *sql.Tx
	cache *stmtCache
}

func (s sqlQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	var res sql.Result
	var err error
	if st := s.stmt(q); st != nil {
		res, err = s.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		res, err = s.q.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqlQ) query(ctx context.Context, q string, args ...any) (rows, error) {
	var r *sql.Rows
	var err error
	if st := s.stmt(q); st != nil {
		r, err = s.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	} else {
		r, err = s.q.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (s sqlQ) stmt(q string) *sql.Stmt {
	if s.cache == nil {
		return nil
	}
	return s.cache.get(q)
}

// stmtCache holds the batch statements prepared on the SQLite write connection. They are
// prepared once when the store opens: preparing inside a transaction would wait for the
// one write connection the transaction itself holds.
//
// Other statements a write transaction runs (loading a tenant's state, creating a tenant)
// are noted when first met and prepared after that transaction ends: loading a thousand
// tenants parsed the same dozen queries each time.
type stmtCache struct {
	mu      sync.RWMutex
	m       map[string]*sql.Stmt
	pending map[string]bool
}

// maxCachedStmts bounds the statements prepared on the fly.
const maxCachedStmts = 1024

func newStmtCache(d *sql.DB) *stmtCache {
	c := &stmtCache{m: map[string]*sql.Stmt{}, pending: map[string]bool{}}
	for _, q := range prepared {
		if st, err := d.Prepare(q); err == nil {
			c.m[q] = st
		}
	}
	return c
}

// preparePending prepares the statements noted since the last call; d's one connection must
// not be held by the caller.
func (c *stmtCache) preparePending(d *sql.DB) {
	c.mu.RLock()
	n := len(c.pending)
	c.mu.RUnlock()
	if n == 0 {
		return
	}
	c.mu.Lock()
	var qs []string
	for q := range c.pending {
		qs = append(qs, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	// Prepare waits for the write connection, which another transaction may hold while it
	// reads the cache: the lock is not held meanwhile.
	for _, q := range qs {
		st, err := d.Prepare(q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.m[q] == nil && len(c.m) < maxCachedStmts {
			c.m[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			_ = st.Close()
		}
	}
}

// prepared lists every statement text the write path runs; files of this package add
// theirs from init so that the SQLite writer prepares them once.
var prepared []string

func init() {
	for k := range batchTexts {
		prepared = append(prepared, batchTexts[k][:]...)
	}
}

// rowsText returns head (?,…,?),… tail for n rows of cols values: the shape of every
// multi-row statement.
func rowsText(head string, cols, n int, tail string) string {
	row := "(" + placeholders(cols) + ")"
	return head + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + tail
}

func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.RLock()
	st := c.m[q]
	c.mu.RUnlock()
	if st == nil {
		c.mu.Lock()
		if len(c.m)+len(c.pending) < maxCachedStmts {
			c.pending[q] = true
		}
		c.mu.Unlock()
	}
	return st
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type pgQ struct {
	q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}
	tx pgx.Tx // set in a write transaction, for pipelining
}

// entryColumns are a ledger entry's columns, in the order Prepare gives their values.
var entryColumns = []string{"tenant_id", "seq", "kind", "amount", "balance_before", "balance_after", "at", "lot_id", "ref", "reason"}

// stmt is one statement of a pipeline.
type stmt struct {
	q    string
	args []any
}

// execAll runs stmts in order, passing each one's rows affected to check, and stops at
// the first error. On PostgreSQL the statements between two COPYs (pgCopies) travel in one
// pipelined round trip; on SQLite they run one after another in process.
func execAll(ctx context.Context, q querier, stmts []stmt, check func(i int, affected int64) error) error {
	if p, ok := q.(pgQ); ok && p.tx != nil {
		for start := 0; start < len(stmts); {
			end := start + 1
			var err error
			if c := pgCopies[stmts[start].q]; c != nil {
				for end < len(stmts) && pgCopies[stmts[end].q] == c {
					end++
				}
				err = c.copy(ctx, p.tx, stmts, start, end, check)
			} else {
				for end < len(stmts) && pgCopies[stmts[end].q] == nil {
					end++
				}
				err = pipeline(ctx, p.tx, stmts, start, end, check)
			}
			if err != nil {
				return err
			}
			start = end
		}
		return nil
	}
	for i, s := range stmts {
		n, err := q.exec(ctx, s.q, s.args...)
		if err == nil {
			err = check(i, n)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pipeline sends stmts[start:end] to PostgreSQL in one round trip.
func pipeline(ctx context.Context, tx pgx.Tx, stmts []stmt, start, end int, check func(i int, affected int64) error) error {
	var b pgx.Batch
	for _, s := range stmts[start:end] {
		b.Queue(rebind(s.q), s.args...)
	}
	br := tx.SendBatch(ctx, &b)
	defer br.Close()
	for i := start; i < end; i++ {
		tag, err := br.Exec()
		if err == nil {
			err = check(i, tag.RowsAffected())
		}
		if err != nil {
			return err
		}
	}
	return br.Close()
}

// pgCopy is a multi-row INSERT that PostgreSQL runs as one COPY for all its chunks of a
// batch: the server spends about half the CPU per row (11.7 against 23.6 µs for a usage
// row, measured on this project's machine) and the client a third.
type pgCopy struct {
	table string
	cols  []string
	// key is the unique constraint whose violation means a row's key is already stored
	// (ErrKeyExists, as the INSERT's ON CONFLICT DO NOTHING reported by its row count);
	// empty when a violation is an error like any other.
	key string
}

// pgCopies maps the statement texts that PostgreSQL runs as COPY to what they insert.
var pgCopies = map[string]*pgCopy{}

func init() {
	usage := &pgCopy{table: "usage", cols: usageColumns, key: "usage_pkey"}
	entries := &pgCopy{table: "ledger_entries", cols: entryColumns}
	for i := range chunks {
		pgCopies[chargingTexts[insertUsage-batchKinds][i]] = usage
		pgCopies[batchTexts[insertEntries][i]] = entries
	}
}

func (c *pgCopy) copy(ctx context.Context, tx pgx.Tx, stmts []stmt, start, end int, check func(i int, affected int64) error) error {
	src := &flatRows{stmts: stmts[start:end], cols: len(c.cols)}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, src)
	var pgErr *pgconn.PgError
	if c.key != "" && errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == c.key {
		return fmt.Errorf("%s: %w", pgErr.Detail, ErrKeyExists)
	}
	if err != nil {
		return err
	}
	if want := int64(src.total()); n != want {
		return fmt.Errorf("store: COPY into %s took %d of %d rows", c.table, n, want)
	}
	// Every row went in: each statement the COPY stands for inserted all of its rows.
	for i := start; i < end; i++ {
		if err := check(i, int64(len(stmts[i].args)/len(c.cols))); err != nil {
			return err
		}
	}
	return nil
}

// flatRows feeds the argument lists of a run of multi-row statements to COPY, one row at
// a time, without copying them.
type flatRows struct {
	stmts  []stmt
	cols   int
	i, off int
	row    []any
}

func (f *flatRows) Next() bool {
	for ; f.i < len(f.stmts); f.i, f.off = f.i+1, 0 {
		if a := f.stmts[f.i].args; f.off < len(a) {
			f.row, f.off = a[f.off:f.off+f.cols], f.off+f.cols
			return true
		}
	}
	return false
}

func (f *flatRows) Values() ([]any, error) { return f.row, nil }
func (f *flatRows) Err() error             { return nil }

func (f *flatRows) total() (n int) {
	for _, s := range f.stmts {
		n += len(s.args) / f.cols
	}
	return n
}

func (p pgQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, rebind(q), args...)
	return tag.RowsAffected(), err
}

func (p pgQ) query(ctx context.Context, q string, args ...any) (rows, error) {
	return p.q.Query(ctx, rebind(q), args...)
}

// rebound caches rebind's answers: the write path runs the same few hundred statement
// texts (the batch statements are up to 256 rows long) in every batch.
var (
	rebound  sync.Map // ? text → $n text
	nRebound atomic.Int64
)

// maxRebound bounds the cache, should some caller build texts with values in them.
const maxRebound = 4096

// rebind turns ? placeholders into PostgreSQL's $1, $2, ... (no literal in our SQL holds ?).
func rebind(q string) string {
	if r, ok := rebound.Load(q); ok {
		return r.(string)
	}
	r := rebindText(q)
	if nRebound.Load() < maxRebound {
		if _, loaded := rebound.LoadOrStore(q, r); !loaded {
			nRebound.Add(1)
		}
	}
	return r
}

func rebindText(q string) string {
	n := strings.Count(q, "?")
	if n == 0 {
		return q
	}
	b := make([]byte, 0, len(q)+n*3)
	i := 0
	for j := 0; j < len(q); j++ {
		if q[j] == '?' {
			i++
			b = append(b, '$')
			b = strconv.AppendInt(b, int64(i), 10)
			continue
		}
		b = append(b, q[j])
	}
	return string(b)
}

// SQL is the one Store implementation, over either engine.
type SQL struct {
	d     *db.DB
	read  querier
	stmts *stmtCache
}

// New returns the store on an open, migrated database.
func New(d *db.DB) *SQL {
	s := &SQL{d: d}
	if d.Kind() == db.Postgres {
		s.read = pgQ{q: d.Pool()}
	} else {
		s.read = sqlQ{q: d.Read()}
		s.stmts = newStmtCache(d.Write())
	}
	return s
}

var _ Store = (*SQL)(nil)

// DB returns the underlying database.
func (s *SQL) DB() *db.DB { return s.d }

func (s *SQL) Ping(ctx context.Context) error { return s.d.Ping(ctx) }
func (s *SQL) Close() error                   { return s.d.Close() }

// PostgresShards is how many writer shards WriteShards asks for on PostgreSQL.
const PostgresShards = 4

// WriteShards is how many write transactions the writer should commit at once: 1 on SQLite,
// which has one write connection; on PostgreSQL PostgresShards, fewer when the pool is small
// (each shard holds a connection while it commits; half the pool stays for reads and jobs).
func (s *SQL) WriteShards() int {
	if s.d.Kind() != db.Postgres {
		return 1
	}
	return max(1, min(PostgresShards, int(s.d.Pool().Config().MaxConns)/2))
}

type batchKey struct{}

// BatchContext marks ctx as the writer's batch: WriteTx runs it at REPEATABLE READ instead
// of SERIALIZABLE on PostgreSQL. A batch reads and writes the rows of hundreds of tenants;
// PostgreSQL turns that many predicate locks into locks on whole tables, so two batches of
// different tenants always seemed to conflict: with 4 writer shards 454 of 1,300 batches
// of a CDR import were rolled back and run again, and it ran at a third of one shard's speed.
// A batch needs no more than REPEATABLE READ: it changes a tenant only together with that
// tenant's account row, updated only at the version the batch read (Save checks the row
// count); a concurrent update of that row fails the batch with 40001, retried like a
// version mismatch. Every other transaction stays SERIALIZABLE.
func BatchContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, true)
}

func (s *SQL) WriteTx(ctx context.Context, fn func(Tx) error) error {
	if s.d.Kind() == db.Postgres {
		iso := pgx.Serializable
		if ctx.Value(batchKey{}) != nil {
			iso = pgx.RepeatableRead
		}
		tx, err := s.d.Pool().BeginTx(ctx, pgx.TxOptions{IsoLevel: iso})
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if err := fn(&sqlTx{q: pgQ{q: tx, tx: tx}, pg: true}); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	err := s.sqliteTx(ctx, fn)
	s.stmts.preparePending(s.d.Write())
	return err
}

// retryTx is WriteTx for a transaction of this package's own statements, run again after a
// PostgreSQL serialization failure or deadlock (db.RetryPolicy): two tenants created side by
// side may fail to serialize. fn must be safe to repeat. The writer's batches use WriteTx
// itself: it retries them from reloaded state.
func (s *SQL) retryTx(ctx context.Context, fn func(Tx) error) error {
	return db.DefaultRetryPolicy.Do(ctx, func() error { return s.WriteTx(ctx, fn) })
}

func (s *SQL) sqliteTx(ctx context.Context, fn func(Tx) error) error {
	tx, err := s.d.Write().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(&sqlTx{q: sqlQ{q: tx, tx: tx, cache: s.stmts}}); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *SQL) Retryable(err error) bool {
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrKeyExists) || db.IsRetryable(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // a racing writer inserted the same key
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

func (s *SQL) CreateTenant(ctx context.Context, t Tenant) error {
	if t.ID == "" {
		return fmt.Errorf("tenant id is empty")
	}
	now := t.CreatedAt.UnixNano()
	return s.retryTx(ctx, func(tx Tx) error {
		q := tx.(*sqlTx).q
		r, err := q.query(ctx, `SELECT 1 FROM tenants WHERE id = ?`, t.ID)
		if err != nil {
			return err
		}
		exists := r.Next()
		r.Close()
		if exists {
			return fmt.Errorf("tenant %q: %w", t.ID, ErrExists)
		}
		if _, err := q.exec(ctx, `INSERT INTO tenants (id, name, currency, created_at) VALUES (?, ?, ?, ?)`,
			t.ID, t.Name, t.Currency.Code, now); err != nil {
			return err
		}
		_, err = q.exec(ctx, `INSERT INTO accounts (tenant_id, version, balance, debt, reserved, funded, charged,
			forfeited, adjusted, next_seq, next_lot_id, updated_at) VALUES (?, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, ?)`, t.ID, now)
		return err
	})
}

func (s *SQL) Tenant(ctx context.Context, id string) (Tenant, error) {
	ts, err := s.tenants(ctx, `WHERE id = ?`, id)
	if err != nil {
		return Tenant{}, err
	}
	if len(ts) == 0 {
		return Tenant{}, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	return ts[0], nil
}

func (s *SQL) Tenants(ctx context.Context) ([]Tenant, error) { return s.tenants(ctx, `ORDER BY id`) }

func (s *SQL) tenants(ctx context.Context, where string, args ...any) ([]Tenant, error) {
	r, err := s.read.query(ctx, `SELECT id, name, currency, created_at FROM tenants `+where, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Tenant
	for r.Next() {
		var t Tenant
		var code string
		var at int64
		if err := r.Scan(&t.ID, &t.Name, &code, &at); err != nil {
			return nil, err
		}
		if t.Currency, err = money.LookupCurrency(code); err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.ID, err)
		}
		t.CreatedAt = fromNano(at)
		out = append(out, t)
	}
	return out, r.Err()
}

func (s *SQL) Account(ctx context.Context, tenant string) (*ledger.Account, error) {
	a, _, err := loadAccount(ctx, s.read, tenant)
	return a, err
}

func (s *SQL) Entries(ctx context.Context, tenant string, after int64, limit int) ([]ledger.Entry, error) {
	var out []ledger.Entry
	err := each(ctx, s.read, entrySelect+` WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, []any{tenant, after, limit},
		func(r rows) error {
			e, err := scanEntry(r)
			out = append(out, e)
			return err
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const entrySelect = `SELECT seq, kind, amount, balance_before, balance_after, at, lot_id, ref, reason FROM ledger_entries`

func scanEntry(r rows) (ledger.Entry, error) {
	var e ledger.Entry
	var kind string
	var at int64
	err := r.Scan(&e.Seq, &kind, (*int64)(&e.Amount), (*int64)(&e.Before), (*int64)(&e.After), &at, &e.LotID, &e.Ref, &e.Reason)
	e.Kind, e.At = ledger.EntryKind(kind), fromNano(at)
	return e, err
}

func (s *SQL) Lots(ctx context.Context, tenant string) ([]ledger.Lot, error) {
	return queryLots(ctx, s.read, `WHERE tenant_id = ? ORDER BY id`, tenant)
}

const lotCols = `id, source, ref, amount, remaining, forfeited, purchased_at, expires_at`

func queryLots(ctx context.Context, q querier, where string, args ...any) ([]ledger.Lot, error) {
	r, err := q.query(ctx, `SELECT `+lotCols+` FROM lots `+where, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []ledger.Lot
	for r.Next() {
		var l ledger.Lot
		var p, e int64
		if err := r.Scan(&l.ID, &l.Source, &l.Ref, (*int64)(&l.Amount), (*int64)(&l.Remaining), (*int64)(&l.Forfeited), &p, &e); err != nil {
			return nil, err
		}
		l.PurchasedAt, l.ExpiresAt = fromNano(p), fromNano(e)
		out = append(out, l)
	}
	return out, r.Err()
}

func loadAccount(ctx context.Context, q querier, tenant string) (*ledger.Account, int64, error) {
	r, err := q.query(ctx, `SELECT t.currency, a.version, a.balance, a.debt, a.reserved, a.funded, a.charged,
		a.forfeited, a.adjusted, a.next_seq, a.next_lot_id
		FROM accounts a JOIN tenants t ON t.id = a.tenant_id WHERE a.tenant_id = ?`, tenant)
	if err != nil {
		return nil, 0, err
	}
	var code string
	var version int64
	a := &ledger.Account{Tenant: tenant}
	found := r.Next()
	if found {
		err = r.Scan(&code, &version, (*int64)(&a.Balance), (*int64)(&a.Debt), (*int64)(&a.Reserved),
			(*int64)(&a.Totals.Funded), (*int64)(&a.Totals.Charged), (*int64)(&a.Totals.Forfeited),
			(*int64)(&a.Totals.Adjusted), &a.NextSeq, &a.NextLotID)
	}
	if err == nil {
		err = r.Err()
	}
	r.Close()
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, fmt.Errorf("tenant %q: %w", tenant, ErrNotFound)
	}
	if a.Currency, err = money.LookupCurrency(code); err != nil {
		return nil, 0, err
	}
	if a.Lots, err = queryLots(ctx, q, `WHERE tenant_id = ? AND remaining > 0 ORDER BY expires_at, id`, tenant); err != nil {
		return nil, 0, err
	}
	a.Reservations = map[string]*ledger.Reservation{}
	// A call in progress keeps its reservation in its own row (migration 00009).
	rr, err := q.query(ctx, `SELECT id, amount, created_at, expires_at FROM reservations WHERE tenant_id = ?
		UNION ALL SELECT call_key, res_amount, res_created_at, res_expires_at FROM open_calls
		WHERE tenant_id = ? AND res_expires_at <> 0`, tenant, tenant)
	if err != nil {
		return nil, 0, err
	}
	defer rr.Close()
	for rr.Next() {
		var res ledger.Reservation
		var c, e int64
		if err := rr.Scan(&res.ID, (*int64)(&res.Amount), &c, &e); err != nil {
			return nil, 0, err
		}
		res.CreatedAt, res.ExpiresAt = fromNano(c), fromNano(e)
		a.Reservations[res.ID] = &res
	}
	return a, version, rr.Err()
}

type sqlTx struct {
	q  querier
	pg bool
}

func (t *sqlTx) LoadAccount(ctx context.Context, id string) (*ledger.Account, int64, error) {
	return loadAccount(ctx, t.q, id)
}

func (t *sqlTx) LoadState(ctx context.Context, id string, now time.Time) (*tenant.State, int64, error) {
	return loadState(ctx, t.q, id, now)
}

func (t *sqlTx) LookupCommands(ctx context.Context, keys []Key) (map[Key]CommandRecord, error) {
	out := make(map[Key]CommandRecord)
	scan := func(r rows) error {
		defer r.Close()
		for r.Next() {
			var c CommandRecord
			var tenant, result string
			var at int64
			if err := r.Scan(&tenant, &c.Key, &c.Kind, &c.Hash, &result, &at); err != nil {
				return err
			}
			c.Result, c.At = []byte(result), fromNano(at)
			out[Key{tenant, c.Key}] = c
		}
		return r.Err()
	}
	// Records kept in usage rows (CommandRecord.Usage); the writer stores none of their
	// keys in commands, but if one were there it would be the record.
	scanCallRecords := func(r rows) error {
		defer r.Close()
		for r.Next() {
			c := CommandRecord{Usage: true}
			var tid, callID, leg string
			if err := r.Scan(&tid, &callID, &leg, &c.Kind, &c.Hash, &c.Result); err != nil {
				return err
			}
			c.Key = "call:" + tenant.CallKey(callID, leg)
			if _, ok := out[Key{tid, c.Key}]; !ok {
				out[Key{tid, c.Key}] = c
			}
		}
		return r.Err()
	}
	type call struct{ tenant, id, leg string }
	var calls []call // the keys that name one call
	for _, k := range keys {
		if id, leg, ok := tenant.CallOfKey(k.Key); ok {
			calls = append(calls, call{k.Tenant, id, leg})
		}
	}
	if t.pg {
		if len(keys) == 0 {
			return out, nil
		}
		tenants, ks := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			tenants[i], ks[i] = k.Tenant, k.Key
		}
		r, err := t.q.query(ctx, `SELECT c.tenant_id, c.key, c.kind, c.hash, c.result, c.at FROM commands c
			JOIN unnest(?::text[], ?::text[]) AS k(tenant_id, key) ON c.tenant_id = k.tenant_id AND c.key = k.key`, tenants, ks)
		if err != nil {
			return nil, err
		}
		if err := scan(r); err != nil || len(calls) == 0 {
			return out, err
		}
		n := len(calls)
		tenants, ids, legs := make([]string, n), make([]string, n), make([]string, n)
		for i, c := range calls {
			tenants[i], ids[i], legs[i] = c.tenant, c.id, c.leg
		}
		r, err = t.q.query(ctx, `SELECT u.tenant_id, u.call_id, u.leg, u.cmd_kind, u.cmd_hash, u.cmd_result FROM usage u
			JOIN unnest(?::text[], ?::text[], ?::text[]) AS k(tenant_id, call_id, leg)
			ON u.tenant_id = k.tenant_id AND u.call_id = k.call_id AND u.leg = k.leg WHERE length(u.cmd_hash) > 0`, tenants, ids, legs)
		if err != nil {
			return nil, err
		}
		return out, scanCallRecords(r)
	}
	for start := 0; start < len(keys); {
		n := nextChunk(len(keys) - start)
		args := make([]any, 0, 2*n)
		for _, k := range keys[start : start+n] {
			args = append(args, k.Tenant, k.Key)
		}
		start += n
		r, err := t.q.query(ctx, batchText(lookupCommands, n), args...)
		if err != nil {
			return nil, err
		}
		if err := scan(r); err != nil {
			return nil, err
		}
	}
	for start := 0; start < len(calls); {
		n := nextChunk(len(calls) - start)
		args := make([]any, 0, 3*n)
		for _, c := range calls[start : start+n] {
			args = append(args, c.tenant, c.id, c.leg)
		}
		start += n
		r, err := t.q.query(ctx, batchText(lookupUsage, n), args...)
		if err != nil {
			return nil, err
		}
		if err := scanCallRecords(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// The statements a batch runs, each in a variant per chunk size.
type batchKind int

const (
	updateAccounts batchKind = iota
	upsertLots
	deleteReservations
	upsertReservations
	insertEntries
	insertCommands
	lookupCommands
	lookupUsage
	batchKinds
)

// chunks are the row counts of multi-row statements. A batch is cut into these sizes so
// that only a few statement texts exist, each parsed and planned once (SQLite allows at
// most 500 compound SELECTs in one statement).
var chunks = [...]int{256, 64, 16, 4, 1}

// nextChunk returns the size of the next statement for n > 0 remaining rows.
func nextChunk(n int) int {
	for _, c := range chunks {
		if n >= c {
			return c
		}
	}
	return 1
}

// batchTexts[kind][i] is the statement for chunks[i] rows, with ? placeholders.
var batchTexts = func() (t [batchKinds][len(chunks)]string) {
	values := rowsText
	for i, n := range chunks {
		t[updateAccounts][i] = `UPDATE accounts SET version = v.version + 1, balance = v.balance, debt = v.debt,
			reserved = v.reserved, funded = v.funded, charged = v.charged, forfeited = v.forfeited,
			adjusted = v.adjusted, next_seq = v.next_seq, next_lot_id = v.next_lot_id, updated_at = v.updated_at
			FROM (SELECT CAST(? AS TEXT) AS tenant_id, CAST(? AS BIGINT) AS version, CAST(? AS BIGINT) AS balance,
				CAST(? AS BIGINT) AS debt, CAST(? AS BIGINT) AS reserved, CAST(? AS BIGINT) AS funded,
				CAST(? AS BIGINT) AS charged, CAST(? AS BIGINT) AS forfeited, CAST(? AS BIGINT) AS adjusted,
				CAST(? AS BIGINT) AS next_seq, CAST(? AS BIGINT) AS next_lot_id, CAST(? AS BIGINT) AS updated_at` +
			strings.Repeat(` UNION ALL SELECT `+placeholders(12), n-1) +
			`) AS v WHERE accounts.tenant_id = v.tenant_id AND accounts.version = v.version`
		t[upsertLots][i] = values(`INSERT INTO lots (tenant_id, `+lotCols+`) VALUES `, 9, n,
			` ON CONFLICT (tenant_id, id) DO UPDATE SET remaining = excluded.remaining, forfeited = excluded.forfeited`)
		t[deleteReservations][i] = values(`DELETE FROM reservations WHERE (tenant_id, id) IN (VALUES `, 2, n, `)`)
		t[upsertReservations][i] = values(`INSERT INTO reservations (tenant_id, id, amount, created_at, expires_at) VALUES `, 5, n,
			` ON CONFLICT (tenant_id, id) DO UPDATE SET amount = excluded.amount, expires_at = excluded.expires_at`)
		t[insertEntries][i] = values(`INSERT INTO ledger_entries (`+strings.Join(entryColumns, ", ")+`) VALUES `, len(entryColumns), n, ``)
		t[insertCommands][i] = values(`INSERT INTO commands (tenant_id, key, kind, hash, result, at) VALUES `, 6, n,
			` ON CONFLICT (tenant_id, key) DO NOTHING`)
		t[lookupCommands][i] = values(`SELECT tenant_id, key, kind, hash, result, at FROM commands WHERE (tenant_id, key) IN (VALUES `, 2, n, `)`)
		t[lookupUsage][i] = values(`SELECT tenant_id, call_id, leg, cmd_kind, cmd_hash, cmd_result FROM usage
			WHERE (tenant_id, call_id, leg) IN (VALUES `, 3, n, `) AND length(cmd_hash) > 0`)
	}
	return t
}()

func batchText(k batchKind, n int) string {
	for i, c := range chunks {
		if c == n {
			if k >= batchKinds {
				return chargingTexts[k-batchKinds][i]
			}
			return batchTexts[k][i]
		}
	}
	panic("store: no statement for chunk size")
}

func (t *sqlTx) Save(ctx context.Context, ms []*Mutation) error {
	b, err := Prepare(ms)
	if err != nil {
		return err
	}
	return t.Write(ctx, b)
}

// Batch is the statements that write a set of mutations, built by Prepare.
type Batch struct {
	// Mutations are what the batch was built from; their State may have moved on since.
	Mutations []*Mutation
	stmts     []stmt
	nAccounts int // the first statements update the accounts,
	lastCmd   int // up to this one they insert the command records,
	lastUsage int // up to this one the usage rows
	nCmds     int64
	nUsage    int64
}

// Prepare builds the statements that write ms, reading each mutation's State as it is now:
// once it returns, the states may change (the writer applies its next batch to them) while
// the batch is written.
func Prepare(ms []*Mutation) (*Batch, error) {
	// The argument lists are sized up front: growing them by appending copied each about
	// twice, and they are most of what a batch allocates.
	var nLots, nRes, nClosed, nEntries, nCmds, nUsage int
	for _, m := range ms {
		nLots, nRes, nClosed = nLots+len(m.Lots), nRes+len(m.Reservations), nClosed+len(m.Closed)
		nEntries, nCmds, nUsage = nEntries+len(m.Entries), nCmds+len(m.Commands), nUsage+len(m.Usage)
	}
	accounts, lots, res := make([]any, 0, 12*len(ms)), make([]any, 0, 9*nLots), make([]any, 0, 5*nRes)
	closed, entries, cmds := make([]any, 0, 2*nClosed), make([]any, 0, len(entryColumns)*nEntries), make([]any, 0, 6*nCmds)
	usage := make([]any, 0, usageCols*nUsage)
	refs := map[rating.Ref]string{}
	stmts := make([]stmt, 0, 16)
	for _, m := range ms {
		a := m.Account
		id := a.Tenant
		accounts = append(accounts, id, m.Version, int64(a.Balance), int64(a.Debt), int64(a.Reserved),
			int64(a.Totals.Funded), int64(a.Totals.Charged), int64(a.Totals.Forfeited), int64(a.Totals.Adjusted),
			a.NextSeq, a.NextLotID, m.At.UnixNano())
		for _, l := range m.Lots {
			lots = append(lots, id, l.ID, l.Source, l.Ref, int64(l.Amount), int64(l.Remaining), int64(l.Forfeited),
				l.PurchasedAt.UnixNano(), l.ExpiresAt.UnixNano())
		}
		for _, r := range m.Reservations {
			if m.State != nil && m.State.Calls[r.ID] != nil {
				continue // held in the call's row (chargingRows)
			}
			res = append(res, id, r.ID, int64(r.Amount), r.CreatedAt.UnixNano(), r.ExpiresAt.UnixNano())
		}
		for _, c := range m.Closed {
			closed = append(closed, id, c)
		}
		for _, e := range m.Entries {
			entries = append(entries, id, e.Seq, string(e.Kind), int64(e.Amount), int64(e.Before), int64(e.After),
				e.At.UnixNano(), e.LotID, e.Ref, e.Reason)
		}
		for _, c := range m.Commands {
			cmds = append(cmds, id, c.Key, c.Kind, c.Hash, string(c.Result), c.At.UnixNano())
		}
		if m.State != nil {
			usage = usageArgs(usage, m, refs)
		}
	}
	// The account updates go first: each applies only at the version it was loaded at,
	// so their row count tells whether another writer got there first. The command keys
	// come next, so that a replayed key is found before any other row of it collides: the
	// commands rows, then the usage rows (which keep the records of call keys).
	stmts = chunked(stmts, updateAccounts, 12, accounts)
	nAccounts := len(stmts)
	stmts = chunked(stmts, insertCommands, 6, cmds)
	lastCmd := len(stmts) - 1
	stmts = chunked(stmts, insertUsage, usageCols, usage)
	lastUsage := len(stmts) - 1
	stmts = chunked(stmts, upsertLots, 9, lots)
	stmts = chunked(stmts, deleteReservations, 2, closed)
	stmts = chunked(stmts, upsertReservations, 5, res)
	stmts = chunked(stmts, insertEntries, len(entryColumns), entries)
	var rows chargingRows
	for _, m := range ms {
		if m.State == nil {
			continue
		}
		stmts = directoryStmts(stmts, m.Account.Tenant, &m.Dir, m.State.Dir)
		var err error
		if stmts, err = rows.add(stmts, m); err != nil {
			return nil, err
		}
	}
	stmts = rows.stmts(stmts)
	return &Batch{Mutations: ms, stmts: stmts, nAccounts: nAccounts, lastCmd: lastCmd, lastUsage: lastUsage,
		nCmds: int64(len(cmds) / 6), nUsage: int64(len(usage) / usageCols)}, nil
}

// Write runs the statements of b; ErrConflict when any account version moved, ErrKeyExists
// when a command key is already stored.
func (t *sqlTx) Write(ctx context.Context, b *Batch) error {
	var updated, inserted, booked int64
	nAccounts, lastCmd, lastUsage := b.nAccounts, b.lastCmd, b.lastUsage
	return execAll(ctx, t.q, b.stmts, func(i int, n int64) error {
		switch {
		case i < nAccounts:
			updated += n
			if i == nAccounts-1 && updated != int64(len(b.Mutations)) {
				return fmt.Errorf("%d of %d accounts moved on: %w", int64(len(b.Mutations))-updated, len(b.Mutations), ErrConflict)
			}
		case i <= lastCmd:
			// Keys are inserted without looking them up first; a key already stored
			// inserts nothing and sends the batch back for lookups.
			inserted += n
			if i == lastCmd && inserted != b.nCmds {
				return fmt.Errorf("%d command keys: %w", b.nCmds-inserted, ErrKeyExists)
			}
		case i <= lastUsage:
			booked += n
			if i == lastUsage && booked != b.nUsage {
				return fmt.Errorf("%d calls already have a usage row: %w", b.nUsage-booked, ErrKeyExists)
			}
		}
		return nil
	})
}

// chunked appends the statements of kind that cover args (cols values a row).
func chunked(stmts []stmt, k batchKind, cols int, args []any) []stmt {
	for rows := len(args) / cols; rows > 0; {
		n := nextChunk(rows)
		stmts = append(stmts, stmt{batchText(k, n), args[:n*cols]})
		args, rows = args[n*cols:], rows-n
	}
	return stmts
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func fromNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }
