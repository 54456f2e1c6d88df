package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/commcredits/commcredits/internal/bench/load"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/store"
)

// FdatasyncRate writes 4 KiB and fdatasyncs it, over and over, in a file under dir, at most
// max times or for d, and returns the rate per second: the ceiling of durable commits.
func FdatasyncRate(dir string, max int, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fdatasync-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := bytes.Repeat([]byte{'x'}, 4096)
	start := time.Now()
	n := 0
	for n < max && time.Since(start) < d {
		if _, err := f.WriteAt(buf, int64(n%256)*4096); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// RawInsertSQL is the two multi-row INSERT statements of RawSQLiteInserts for a
// transaction of perTx commands: what every ledger command writes at least (a ledger entry
// and a command record), and nothing else.
func RawInsertSQL(perTx int) (entries, cmds string) {
	entries = `INSERT INTO ledger_entries (tenant_id, seq, kind, amount, balance_before, balance_after, at, lot_id, ref, reason) VALUES ` +
		strings.TrimSuffix(strings.Repeat(`('t', ?, 'charge', -1, 0, 0, 0, 0, '', ''),`, perTx), ",")
	cmds = `INSERT INTO commands (tenant_id, key, kind, hash, result, at) VALUES ` +
		strings.TrimSuffix(strings.Repeat(`('t', ?, 'charge', x'00', '{}', 0),`, perTx), ",")
	return entries, cmds
}

// RawSQLiteInserts inserts n commands' rows (two rows each: RawInsertSQL) into the migrated
// SQLite database d through its write connection, perTx commands per durable transaction,
// for at most dur, numbering them from first. It returns the commands written. This is the
// machine's ceiling for what the writer must write, on the same settings as the engine
// (db.Open's pragmas: WAL, synchronous=FULL).
func RawSQLiteInserts(ctx context.Context, d *db.DB, first, n, perTx int, dur time.Duration) (int, error) {
	w := d.Write()
	entries, cmds := RawInsertSQL(perTx)
	se, err := w.PrepareContext(ctx, entries)
	if err != nil {
		return 0, err
	}
	defer se.Close()
	sc, err := w.PrepareContext(ctx, cmds)
	if err != nil {
		return 0, err
	}
	defer sc.Close()
	seqs, keys := make([]any, perTx), make([]any, perTx)
	start := time.Now()
	done := 0
	for done < n && time.Since(start) < dur {
		for j := range perTx {
			seqs[j], keys[j] = int64(first+done+j), fmt.Sprint("c", first+done+j)
		}
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			return done, err
		}
		if _, err := tx.Stmt(se).ExecContext(ctx, seqs...); err != nil {
			_ = tx.Rollback()
			return done, err
		}
		if _, err := tx.Stmt(sc).ExecContext(ctx, keys...); err != nil {
			_ = tx.Rollback()
			return done, err
		}
		if err := tx.Commit(); err != nil {
			return done, err
		}
		done += perTx
	}
	return done, nil
}

// RawUsageInserts inserts up to n usage rows — the row a booked CDR stores, and nothing
// else: no rating, no pools, no ledger entry, no account — into the migrated SQLite
// database d, perTx rows per durable transaction in statements of 256 rows, for at most
// dur. The rows are spread over tenants as the workload's CDRs are (a third of them to one
// tenant, the rest evenly over the others), with call ids rising as an import's do, and
// values of the workload's sizes. It returns the rows written: the ceiling the CDR path
// cannot pass while each CDR keeps its own usage row in the engine's schema.
func RawUsageInserts(ctx context.Context, d *db.DB, tenants, n, perTx int, dur time.Duration) (int, error) {
	const chunk = 256
	perTx = max(perTx/chunk, 1) * chunk
	usageColumns := store.UsageColumns()
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(usageColumns)), ",") + ")"
	q := "INSERT INTO usage (" + strings.Join(usageColumns, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+",", chunk), ",") + " ON CONFLICT (tenant_id, call_id, leg) DO NOTHING"
	w := d.Write()
	st, err := w.PrepareContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	ids := make([]string, max(tenants, 1))
	for i := range ids {
		ids[i] = fmt.Sprintf("t%04d", i)
	}
	hash, result := make([]byte, 32), make([]byte, 100)
	args := make([]any, 0, chunk*len(usageColumns))
	start := time.Now()
	done := 0
	for done < n && time.Since(start) < dur {
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			return done, err
		}
		for c := 0; c < perTx; c += chunk {
			args = args[:0]
			for i := done + c; i < done+c+chunk; i++ {
				t := ids[0]
				if i%3 != 0 {
					t = ids[i%len(ids)]
				}
				at := int64(1_767_225_600_000_000_000) + int64(i)*1_000_000_000
				args = append(args, t, fmt.Sprintf("i0-%08d", i), "", "", "US", "user-payg", "payg@t0001.example.com",
					"Pay As You Go", "+12025550123", "user_out", "user", int64(1), "+971501234567", "+971501234567",
					at, at+185_000_000_000, int64(185), int64(0), int64(1234), "USD", "MCOPSTNPP",
					"outbound/USD/1:971-50", int64(0), "", "post_cdr", hash, result)
			}
			if _, err := tx.Stmt(st).ExecContext(ctx, args...); err != nil {
				_ = tx.Rollback()
				return done, err
			}
		}
		if err := tx.Commit(); err != nil {
			return done, err
		}
		done += perTx
	}
	return done, nil
}

// rawPostgresInserts is RawSQLiteInserts on PostgreSQL: the same rows in one pipelined
// batch per transaction.
func rawPostgresInserts(ctx context.Context, d *db.DB, n, perTx int, dur time.Duration) (int, error) {
	entries, cmds := RawInsertSQL(perTx)
	// x'00' is a bit string on PostgreSQL.
	entries, cmds = dollars(entries), dollars(strings.ReplaceAll(cmds, `x'00'`, `'\x00'::bytea`))
	seqs, keys := make([]any, perTx), make([]any, perTx)
	start := time.Now()
	done := 0
	for done < n && time.Since(start) < dur {
		for j := range perTx {
			seqs[j], keys[j] = int64(done+j), fmt.Sprint("c", done+j)
		}
		err := pgx.BeginFunc(ctx, d.Pool(), func(tx pgx.Tx) error {
			var b pgx.Batch
			b.Queue(entries, seqs...)
			b.Queue(cmds, keys...)
			return tx.SendBatch(ctx, &b).Close()
		})
		if err != nil {
			return done, err
		}
		done += perTx
	}
	return done, nil
}

// dollars numbers the ? placeholders of q as $1, $2, ….
func dollars(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// HTTPLimit serves a trivial JSON handler on a loopback port and drives it with the same
// load generator and connections as P2/P3: the machine's ceiling for requests per second
// through Go's net/http on loopback.
func HTTPLimit(ctx context.Context, conns int, max int64, dur time.Duration) (load.Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return load.Result{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	return load.Run(ctx, load.Config{Base: base, Conns: conns, Max: max, Warmup: int64(conns), Time: dur,
		Op: func(ctx context.Context, c *http.Client, base string, _ int, _ int64) error {
			return post(ctx, c, base+"/", "", []byte(`{"call_id":"x"}`), nil)
		}})
}

// post sends body to url as JSON with a bearer key when one is given, and decodes nothing:
// any 2xx answer is success. into, when set, receives the body.
func post(ctx context.Context, c *http.Client, url, key string, body []byte, into *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer load.Drain(resp)
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(msg))
	}
	if into != nil {
		_, err = into.ReadFrom(resp.Body)
	}
	return err
}

// MemLoadLatency is the time of one dependent random load in a buffer of size bytes (a
// pointer chase through a random cycle): the ceiling under a trie lookup, which is a chain
// of such loads. 64 MiB is beyond every cache of this machine.
func MemLoadLatency(size int, loads int) time.Duration {
	n := size / int(unsafe.Sizeof(uint32(0)))
	// One cycle through every slot in an order no prefetcher follows: a full-period LCG
	// modulo a power of two (Hull–Dobell: c odd, a ≡ 1 mod 4). Built in one sequential pass,
	// where a shuffle of 16 M slots would itself take seconds of random accesses.
	n = 1 << (bits.Len(uint(n)) - 1)
	next := make([]uint32, n)
	const a, c = 1664525, 1013904223
	for i := range next {
		next[i] = uint32((a*uint64(i) + c) & uint64(n-1))
	}
	var p uint32
	for range min(loads, 1<<16) { // warm the TLB and page tables
		p = next[p]
	}
	start := time.Now()
	for range loads {
		p = next[p]
	}
	el := time.Since(start)
	sink = p
	return el / time.Duration(loads)
}

var sink uint32

// CSVParseTime reads data with encoding/csv and nothing else: the ceiling of importing a
// CSV rate card of the same size.
func CSVParseTime(data []byte) (time.Duration, error) {
	start := time.Now()
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// tempSQLite opens a fresh migrated SQLite database under dir.
func tempSQLite(ctx context.Context, dir, name string) (*db.DB, error) {
	return db.Open(ctx, "sqlite:"+filepath.Join(dir, name), db.WithMigrate())
}
