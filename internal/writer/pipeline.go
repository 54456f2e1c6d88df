package writer

import (
	"context"
	"runtime"
	"time"

	"github.com/commcredits/commcredits/internal/store"
)

// The shard's pipeline. A batch's commands are applied in memory, to the cached tenant
// states, as they are taken from the queue; its statements are built when it is sealed; a
// goroutine of its own then writes and commits it (the flight). While one batch is in
// flight, the next is taken and applied on top of the states the flight left, and it is
// sealed and sent as soon as the flight lands, so the fixed cost of a commit (the fsync or
// the round trips) no longer stops the shard. Callers are answered when their batch lands
// committed, batches land in order, so no command is answered before one taken before it is
// durable. A command applied ahead is applied at the time it is taken (a batch run in one
// transaction is applied at the time the transaction begins).
//
// Applying ahead is only safe while nothing goes wrong. A flight that fails (a version or
// serialization conflict with another process, a key already stored, a value the database
// refuses, a panic) leaves the states of its tenants ahead of the database, and the open
// batch was applied on top of them: both are dropped from the cache, the flight is run
// again the old way (each attempt loads, applies and writes in its own transaction, see
// process) and so is the open batch, from states reloaded after the flight's outcome. A
// command for a tenant not cached (its state must be loaded inside a transaction) waits
// for the flight and the open batch, then goes the old way too.

// flight is a sealed batch being written and committed.
type flight struct {
	b     *builder
	start time.Time
	done  chan struct{}
	err   error
}

func (sh *shard) run() {
	defer sh.w.wg.Done()
	cfg := &sh.w.cfg
	var (
		inFlight *flight
		open     *builder // the batch being applied
		held     *request // the next command, for a tenant not cached
		closed   bool
	)
	// take applies r to the open batch, or holds it when its tenant must be loaded first.
	take := func(r *request, ok bool) {
		if !ok {
			closed = true
			return
		}
		c := sh.cache[r.tenant]
		if c == nil {
			held = r
			return
		}
		if open == nil {
			var prev map[store.Key]store.CommandRecord
			if inFlight != nil {
				prev = inFlight.b.records
			}
			open = sh.newBuilder(prev)
			open.limit = startLimit(r, cfg)
		}
		open.batch = append(open.batch, r)
		open.limit = limitAfter(open.limit, r, len(open.batch), cfg)
		err := protect(func() error { return open.add(r, c, sh.w.clock.Now().UTC()) })
		if err != nil {
			open.err = err
		}
	}
	accepting := func() bool {
		return !closed && held == nil && (open == nil || len(open.batch) < open.limit && open.err == nil && open.epoch == sh.epoch)
	}
	for {
		if inFlight != nil {
			var in chan *request
			if accepting() {
				in = sh.ch
			}
			select {
			case r, ok := <-in:
				take(r, ok)
				// Those queued meanwhile too, without parking between them; no more, so that
				// the flight's landing is seen soon.
				for n := len(sh.ch); n > 0 && accepting(); n-- {
					r, ok := <-sh.ch
					take(r, ok)
				}
			case <-inFlight.done:
				f := inFlight
				inFlight = nil
				if f.err != nil {
					sh.fail(f, open)
					continue
				}
				f.b.committed()
				// The open batch goes out before f's callers are woken, which takes a while
				// and leaves the database idle meanwhile.
				if open != nil && open.err == nil && open.epoch == sh.epoch {
					if inFlight = sh.launch(open); inFlight != nil {
						open = nil
					}
				}
				sh.answer(f.b.batch, f.start, nil)
			}
			continue
		}
	drain:
		for accepting() {
			select {
			case r, ok := <-sh.ch:
				take(r, ok)
			default:
				break drain
			}
		}
		switch {
		case open != nil && (open.err != nil || open.epoch != sh.epoch):
			// Applied on states that are no longer cached, or it could not be applied.
			sh.forget(open, open.err)
			batch := open.batch
			open = nil
			sh.process(batch, nil)
		case open != nil:
			if inFlight = sh.launch(open); inFlight != nil {
				open = nil
			}
		case held != nil:
			batch := append(make([]*request, 0, cfg.MaxBatch), held)
			limit := limitAfter(startLimit(held, cfg), held, 1, cfg)
			held = nil
		fill:
			for len(batch) < limit {
				select {
				case r, ok := <-sh.ch:
					if !ok {
						closed = true
						break fill
					}
					batch = append(batch, r)
					limit = limitAfter(limit, r, len(batch), cfg)
				default:
					break fill
				}
			}
			sh.process(batch, nil)
		case closed:
			return
		default:
			r, ok := <-sh.ch
			take(r, ok)
		}
	}
}

// startLimit is the size limit of a batch that r opens: MaxBulkBatch for a bulk
// submission (SubmitBatch), MaxBatch otherwise.
func startLimit(r *request, cfg *Config) int {
	if r.group != nil {
		return cfg.MaxBulkBatch
	}
	return cfg.MaxBatch
}

// limitAfter is a batch's size limit once r has joined it as its n-th command: bulk
// submissions (SubmitBatch) may fill MaxBulkBatch, and an interactive command stops the batch
// growing past MaxBatch, so that its wait stays that of a normal batch.
func limitAfter(limit int, r *request, n int, cfg *Config) int {
	if r.group == nil {
		return min(limit, max(cfg.MaxBatch, n))
	}
	return limit
}

// launch seals b and starts writing it; nil, with b.err set, when b cannot be built.
func (sh *shard) launch(b *builder) *flight {
	var sb *store.Batch
	if err := protect(func() (err error) { sb, err = b.prepare(); return err }); err != nil {
		b.err = err
		return nil
	}
	f := &flight{b: b, start: time.Now(), done: make(chan struct{})}
	if sb == nil && !hasRefused(b.batch) {
		close(f.done) // nothing to write or look up
		return f
	}
	go func() {
		defer close(f.done)
		ctx := store.BatchContext(context.Background()) // the batch outlives any one caller's context
		f.err = protect(func() error {
			return sh.w.st.WriteTx(ctx, func(tx store.Tx) error {
				if err := replayRefused(ctx, tx, b.batch); err != nil || sb == nil {
					return err
				}
				return tx.Write(ctx, sb)
			})
		})
	}()
	// The new goroutine is this P's next to run, and each caller woken next would push it
	// back behind itself: yield, so the database starts on the batch at once (a busy machine
	// otherwise left it idle for half a millisecond a batch).
	runtime.Gosched()
	return f
}

// fail handles a flight that did not commit. It left its tenants' states, and those of the
// open batch applied on top of them, ahead of the database: they are dropped, and the flight
// runs again on its own; the open batch follows it (its epoch is behind).
func (sh *shard) fail(f *flight, open *builder) {
	sh.forget(f.b, f.err)
	if open != nil {
		sh.forget(open, nil)
	}
	sh.process(f.b.batch, f.err)
}
