package writer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

func ukCDR(callID, leg string, seconds int64) charging.CDR {
	return cdrOf("tenant-000", callID, leg, seconds)
}

func cdrOf(tenantID, callID, leg string, seconds int64) charging.CDR {
	return charging.CDR{Tenant: tenantID, CallID: callID, Leg: leg, CallType: payer.UserOut, Principal: "alice",
		Caller: "+442071838750", Callee: "+971501234567", Start: t0, Duration: seconds}
}

// sqlExec runs q (with ? placeholders) on either engine.
func sqlExec(t *testing.T, s *store.SQL, q string, args ...any) {
	t.Helper()
	if err := sqlTry(s, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func sqlTry(s *store.SQL, q string, args ...any) (err error) {
	if s.DB().Kind() == db.Postgres {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprint("$", i), 1)
		}
		_, err = s.DB().Pool().Exec(ctx, q, args...)
	} else {
		_, err = s.DB().Write().Exec(q, args...)
	}
	return err
}

func sqlCount(t *testing.T, s *store.SQL, q string) int64 {
	t.Helper()
	var n int64
	var err error
	if s.DB().Kind() == db.Postgres {
		err = s.DB().Pool().QueryRow(ctx, q).Scan(&n)
	} else {
		err = s.DB().Read().QueryRow(q).Scan(&n)
	}
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// replayOf is what a replay of a command that answered first must answer.
func replayOf(first writer.Result) writer.Result {
	r := first.Record()
	r.Replayed = true
	return r
}

// A booked CDR keeps its idempotency record in its usage row, not in the commands table;
// after a restart, two writers on one database that get the same CDR at once replay it with
// the first result and never charge it again.
func TestCDRRecordInUsageRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		env := callEnv(t)
		w := writer.New(s, newClock(0), writer.Config{Env: env})
		callTenant(t, s, w, 5000)
		cdr := ukCDR("x1", "", 60)
		first, err := w.Submit(ctx, "tenant-000", "", tenant.PostCDR{CDR: cdr})
		if err != nil || first.Priced == nil || first.Priced.Settlement.Charge != 40 || first.Replayed {
			t.Fatalf("cdr: %+v %v", first, err)
		}
		w.Close()
		if n := sqlCount(t, s, `SELECT count(*) FROM commands WHERE key LIKE 'call:%'`); n != 0 {
			t.Fatalf("%d commands rows for a booked CDR", n)
		}
		if n := sqlCount(t, s, `SELECT count(*) FROM usage WHERE call_id = 'x1' AND length(cmd_hash) = 32 AND length(cmd_result) > 0`); n != 1 {
			t.Fatalf("%d usage rows keep the record", n)
		}

		s2, s3 := storetest.Open(t, dsn), storetest.Open(t, dsn)
		w2, w3 := writer.New(s2, newClock(0), writer.Config{Env: env}), writer.New(s3, newClock(0), writer.Config{Env: env})
		defer w2.Close()
		defer w3.Close()
		want := replayOf(first)
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := []*writer.Writer{w2, w3}[i%2].Submit(ctx, "tenant-000", "", tenant.PostCDR{CDR: cdr})
				if err == nil && !reflect.DeepEqual(got, want) {
					err = fmt.Errorf("replay\n got %+v %+v\nwant %+v %+v", got, got.Priced, want, want.Priced)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		a, err := s2.Account(ctx, "tenant-000")
		if err != nil || a.Balance != first.Balance || a.Balance != 5000-40 {
			t.Fatalf("account %+v %v", a, err)
		}
	})
}

// Whichever way a call ended first — a CDR, a settle, a release, with or without a usage
// row — a second end of it with another command is refused and charges nothing: in the same
// batch, in a later one, after a restart.
func TestCallEndsOnce(t *testing.T) {
	// The commands of a case name the tenant of the run (t.Name()), which the run creates.
	settle := func(id string, secs int64) tenant.Command { return tenant.Settle{CallID: id, Seconds: secs} }
	cdr := func(id, leg string, secs int64) tenant.Command { return tenant.PostCDR{CDR: cdrOf("", id, leg, secs)} }
	cases := []struct {
		name   string
		setup  []tenant.Command // before the first end
		first  tenant.Command
		second []tenant.Command // each refused after first (an Authorize may pass)
	}{
		{name: "cdr then cdr", first: cdr("c", "", 60), second: []tenant.Command{cdr("c", "", 30), cdr("c", "", 0)}},
		{name: "zero cdr then cdr", first: cdr("c", "", 0), second: []tenant.Command{cdr("c", "", 60)}},
		{name: "release then cdr", setup: []tenant.Command{uae("c")}, first: tenant.Release{CallID: "c"},
			second: []tenant.Command{cdr("c", "", 60), cdr("c", "", 0)}},
		{name: "settle then cdr", setup: []tenant.Command{uae("c")}, first: settle("c", 95),
			second: []tenant.Command{cdr("c", "", 60), cdr("c", "", 0), settle("c", 30)}},
		{name: "zero settle then cdr", setup: []tenant.Command{uae("c")}, first: settle("c", 0),
			second: []tenant.Command{cdr("c", "", 60)}},
		{name: "settle then release of the call authorized again", setup: []tenant.Command{uae("c")}, first: settle("c", 95),
			second: []tenant.Command{uae("c"), tenant.Release{CallID: "c"}}},
		{name: "cdr then release of the call authorized", first: cdr("c", "", 60),
			second: []tenant.Command{uae("c"), tenant.Release{CallID: "c"}}},
		{name: "one key for two calls", first: cdr("a/b", "c", 60), second: []tenant.Command{cdr("a", "b/c", 60)}},
		{name: "leg", first: cdr("c", "2", 60), second: []tenant.Command{cdr("c", "2", 61)}},
	}
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		env := callEnv(t)
		for _, c := range cases {
			for _, when := range []string{"same batch", "later batch", "after restart"} {
				t.Run(c.name+"/"+when, func(t *testing.T) {
					id := t.Name()
					s := s
					w := writer.New(s, newClock(0), writer.Config{Env: env})
					defer func() { w.Close() }()
					if err := s.CreateTenant(ctx, store.Tenant{ID: id, Name: id, Currency: usd, CreatedAt: t0}); err != nil {
						t.Fatal(err)
					}
					callUsers(t, w, id, 5000)
					var items []writer.Item
					for _, cmd := range append(append(c.setup[:len(c.setup):len(c.setup)], c.first), c.second...) {
						if p, ok := cmd.(tenant.PostCDR); ok {
							p.CDR.Tenant = id
							cmd = p
						}
						items = append(items, writer.Item{Tenant: id, Cmd: cmd})
					}
					var out []writer.Outcome
					nFirst := len(c.setup) + 1
					if when == "same batch" {
						out = w.SubmitBatch(ctx, items)
					} else {
						out = w.SubmitBatch(ctx, items[:nFirst])
						if when == "after restart" {
							w.Close()
							s = storetest.Open(t, dsn)
							w = writer.New(s, newClock(0), writer.Config{Env: env})
						}
						for _, it := range items[nFirst:] {
							r, err := w.Submit(ctx, it.Tenant, "", it.Cmd)
							out = append(out, writer.Outcome{Result: r, Err: err})
						}
					}
					for i, o := range out[:nFirst] {
						if o.Err != nil {
							t.Fatalf("item %d: %v", i, o.Err)
						}
					}
					first := out[nFirst-1].Result
					for i, o := range out[nFirst:] {
						if _, auth := c.second[i].(tenant.Authorize); auth {
							continue
						}
						if !errors.Is(o.Err, writer.ErrIdempotencyMismatch) || !strings.Contains(o.Err.Error(), c.first.Name()) {
							t.Errorf("%s after %s: %+v %v", c.second[i].Name(), c.first.Name(), o.Result, o.Err)
						}
					}
					a, err := s.Account(ctx, id)
					if err != nil || a.Balance != first.Balance {
						t.Fatalf("balance %d after, %d after the first end (%v)", a.Balance, first.Balance, err)
					}
					// The first end again is its replay.
					again, err := w.Submit(ctx, id, "", items[nFirst-1].Cmd)
					if err != nil || !reflect.DeepEqual(again, replayOf(first)) {
						t.Fatalf("replay of the first end: %+v %v, want %+v", again, err, replayOf(first))
					}
				})
			}
		}
	})
}

// migrateTo moves s's schema down to version, then up again with up.
func migrateTo(t *testing.T, s *store.SQL, version int64, up bool) {
	t.Helper()
	fsys, err := db.MigrationsFS(s.DB().Kind())
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, dialect := s.DB().Write(), goose.DialectSQLite3
	if s.DB().Kind() == db.Postgres {
		sqlDB, dialect = stdlib.OpenDBFromPool(s.DB().Pool()), goose.DialectPostgres
		defer sqlDB.Close()
	}
	p, err := goose.NewProvider(dialect, sqlDB, fsys, goose.WithDisableGlobalRegistry(true), goose.WithTableName(db.VersionTable))
	if err != nil {
		t.Fatal(err)
	}
	if up {
		_, err = p.Up(ctx)
	} else {
		_, err = p.DownTo(ctx, version)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A database written before migration 00011 keeps the records of call keys in the commands
// table; the migration moves them into the usage rows (or rows of their own), where replays
// and refusals find them. The database is made by booking calls now, turning their records
// into the JSON they had then and migrating down to 00010 (which puts them back into
// commands), then up again.
func TestCallRecordsOfOldDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		env := callEnv(t)
		w := writer.New(s, newClock(0), writer.Config{Env: env})
		callTenant(t, s, w, 5000)
		ends := []tenant.Command{
			tenant.PostCDR{CDR: ukCDR("booked", "", 60)},
			tenant.PostCDR{CDR: ukCDR("zero", "", 0)},
			tenant.PostCDR{CDR: ukCDR("a/b", "c", 60)}, // a key of two calls: in commands all along
			uae("released"), tenant.Release{CallID: "released"},
			uae("settled"), tenant.Settle{CallID: "settled", Seconds: 95},
		}
		first := map[string]writer.Result{}
		for _, c := range ends {
			r, err := w.Submit(ctx, "tenant-000", "", c)
			if err != nil {
				t.Fatal(err)
			}
			if k, ok := c.(writer.Keyed); ok {
				first[k.IdempotencyKey()] = r
				if id, leg, ok := tenant.CallOfKey(k.IdempotencyKey()); ok {
					body, err := json.Marshal(r.Record())
					if err != nil {
						t.Fatal(err)
					}
					sqlExec(t, s, `UPDATE usage SET cmd_result = ? WHERE call_id = ? AND leg = ?`, body, id, leg)
				}
			}
		}
		w.Close()
		if n := sqlCount(t, s, `SELECT count(*) FROM commands WHERE key LIKE 'call:%'`); n != 1 {
			t.Fatalf("%d commands rows of call keys before the migration down", n)
		}
		migrateTo(t, s, 10, false)
		if n := sqlCount(t, s, `SELECT count(*) FROM commands WHERE key LIKE 'call:%'`); n != 5 {
			t.Fatalf("%d commands rows of call keys at 00010", n)
		}
		if n := sqlCount(t, s, `SELECT count(*) FROM usage`); n != 3 {
			t.Fatalf("%d usage rows at 00010", n)
		}
		migrateTo(t, s, 0, true)
		if n := sqlCount(t, s, `SELECT count(*) FROM commands WHERE key LIKE 'call:%'`); n != 1 {
			t.Fatalf("%d commands rows of call keys after the migration", n)
		}
		if n := sqlCount(t, s, `SELECT count(*) FROM usage WHERE length(cmd_hash) = 32`); n != 4 {
			t.Fatalf("%d usage rows keep a record after the migration", n)
		}

		s2 := storetest.Open(t, dsn)
		w2 := writer.New(s2, newClock(0), writer.Config{Env: env})
		defer w2.Close()
		for _, c := range ends {
			k, ok := c.(writer.Keyed)
			if !ok {
				continue
			}
			again, err := w2.Submit(ctx, "tenant-000", "", c)
			if want := replayOf(first[k.IdempotencyKey()]); err != nil || !reflect.DeepEqual(again, want) {
				t.Fatalf("replay of %s: %+v %v, want %+v", k.IdempotencyKey(), again, err, want)
			}
			other := tenant.PostCDR{CDR: ukCDR("x", "", 61)}
			other.CDR.CallID, other.CDR.Leg, _ = strings.Cut(strings.TrimPrefix(k.IdempotencyKey(), "call:"), "/")
			if k.IdempotencyKey() == "call:a/b/c" {
				other.CDR.CallID, other.CDR.Leg = "a/b", "c"
			}
			if _, err := w2.Submit(ctx, "tenant-000", "", other); !errors.Is(err, writer.ErrIdempotencyMismatch) {
				t.Fatalf("another CDR of %s: %v", k.IdempotencyKey(), err)
			}
		}
		a, err := s2.Account(ctx, "tenant-000")
		if want := first["call:settled/"].Balance; err != nil || a.Balance != want {
			t.Fatalf("balance %d, want %d (%v)", a.Balance, want, err)
		}
		// Rows that only keep a record are no calls of the usage report.
		rows, err := s2.ReportUsage(ctx, "tenant-000")
		if err != nil || len(rows) != 3 {
			t.Fatalf("usage report: %d rows %v", len(rows), err)
		}
	})
}

// The database itself refuses a second usage row or open call under one key, before and
// after migration 00012 moved both tables into arrival order, and the migration keeps every
// row: the writer's duplicate detection rests on it.
func TestCallKeysUniqueAcrossMigration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w := writer.New(s, newClock(0), writer.Config{Env: callEnv(t)})
		callTenant(t, s, w, 5000)
		for _, c := range []tenant.Command{tenant.PostCDR{CDR: ukCDR("booked", "", 60)}, uae("open")} {
			if _, err := w.Submit(ctx, "tenant-000", "", c); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		copies := []string{
			`INSERT INTO usage SELECT * FROM usage WHERE call_id = 'booked'`,
			`INSERT INTO open_calls SELECT * FROM open_calls WHERE call_key = 'open/'`,
		}
		check := func(stage string) {
			t.Helper()
			for _, q := range copies {
				if err := sqlTry(s, q); err == nil {
					t.Errorf("%s: %s was taken", stage, q)
				}
			}
			if u, o := sqlCount(t, s, `SELECT count(*) FROM usage`), sqlCount(t, s, `SELECT count(*) FROM open_calls`); u != 1 || o != 1 {
				t.Fatalf("%s: %d usage rows, %d open calls", stage, u, o)
			}
		}
		check("latest")
		migrateTo(t, s, 11, false)
		check("at 00011")
		migrateTo(t, s, 0, true)
		check("up again")
	})
}

// A row that only keeps a record (a release) is written with times 0, as migration 00011
// writes those it creates, and with the command's kind.
func TestRecordOnlyRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w := writer.New(s, newClock(0), writer.Config{Env: callEnv(t)})
		defer w.Close()
		callTenant(t, s, w, 5000)
		for _, c := range []tenant.Command{uae("gone"), tenant.Release{CallID: "gone"}} {
			if _, err := w.Submit(ctx, "tenant-000", "", c); err != nil {
				t.Fatal(err)
			}
		}
		if n := sqlCount(t, s, `SELECT count(*) FROM usage WHERE call_id = 'gone' AND leg = '' AND start_at = 0 AND end_at = 0
			AND duration_seconds = 0 AND cmd_kind = 'release_call' AND length(cmd_hash) = 32`); n != 1 {
			t.Fatalf("%d record rows", n)
		}
	})
}
