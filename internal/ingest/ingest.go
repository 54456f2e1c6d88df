// Package ingest books call detail records from files: a CDR CSV (streamed, with progress
// and a checkpoint to resume from) or a batch of CDRs as JSON. Each record goes through the
// writer as a tenant.PostCDR, many at once so that the writer's group commit fills its
// batches; the report accounts for every record: booked, duplicate, free call for review, or
// rejected. Booking is idempotent per (tenant, call id, leg), so sending a record again —
// after a crash, or by resuming from an earlier offset — never charges twice.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Defaults of Options.
const (
	// DefaultInFlight is twice writer.DefaultMaxBulkBatch: the writer fills its next batch
	// while one commits.
	DefaultInFlight = 2 * writer.DefaultMaxBulkBatch
	// LimitedInFlight is the default instead when the process runs under a soft memory limit
	// (debug.SetMemoryLimit, GOMEMLIMIT; cdr import sets one): one writer batch. A CDR in
	// flight holds its record, its priced result and its share of the batch's rows (~2 KB in
	// P4's heap profiles); half as many keep ~20 MB less live, so the limit can sit lower
	// with fewer collections. The writer still commits one batch while it builds the next.
	LimitedInFlight        = writer.DefaultMaxBulkBatch
	DefaultProgressEvery   = 500 * time.Millisecond
	DefaultCheckpointEvery = time.Second
	// MaxListed is how many rejected lines and how many review lines a report lists; the
	// rest are counted.
	MaxListed = 1000
)

// Options tune an import. Zero values take the defaults.
type Options struct {
	// InFlight is how many CDRs may wait on the writer at once (default DefaultInFlight, or
	// LimitedInFlight under a memory limit).
	// It also bounds how far reading runs ahead of the oldest unacknowledged record.
	InFlight int
	// Size is the source's size in bytes for progress; 0: the size of an *os.File source,
	// else unknown.
	Size int64
	// Progress, when set, is called at most every ProgressEvery (default 500 ms) while the
	// import runs, and once at the end with Final set.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Checkpoint, when set, is a small JSON file (CSV imports only) rewritten every
	// CheckpointEvery (default 1 s) and at the end with the byte offset below which every
	// record is durably booked, refused or rejected.
	Checkpoint      string
	CheckpointEvery time.Duration
	// Resume starts from Checkpoint's offset instead of the start of the source (the
	// source must be the same file). A missing checkpoint file starts from the beginning.
	Resume bool
}

func (o *Options) defaults() {
	if o.InFlight <= 0 {
		o.InFlight = DefaultInFlightFor(debug.SetMemoryLimit(-1))
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
}

// DefaultInFlightFor is Options.InFlight's default in a process whose soft memory limit is
// limit bytes (math.MaxInt64: none).
func DefaultInFlightFor(limit int64) int {
	if limit < math.MaxInt64 {
		return LimitedInFlight
	}
	return DefaultInFlight
}

// Progress is a snapshot of a running import.
type Progress struct {
	Lines   int64         `json:"lines"`   // records finished (booked, duplicate, free call or rejected)
	Bytes   int64         `json:"bytes"`   // offset read up to in the source
	Durable int64         `json:"durable"` // offset below which every record is acknowledged
	Total   int64         `json:"total"`   // source size; 0 when unknown
	Rate    float64       `json:"rate"`    // records finished per second since the start
	Elapsed time.Duration `json:"elapsed"`
	Final   bool          `json:"final,omitempty"`
}

// Report accounts for every record of a source: Lines = Booked + Duplicates + FreeCalls +
// Rejected.
type Report struct {
	Lines      int64 `json:"lines"`
	Booked     int64 `json:"booked"`
	Duplicates int64 `json:"duplicates"`
	FreeCalls  int64 `json:"free_calls"`
	Rejected   int64 `json:"rejected"`
	// Review lists FREECALL records (charged nothing) and booked ones that carry a review
	// reason (seconds a pool could not cover), by line; at most MaxListed.
	Review        []Review `json:"review,omitempty"`
	ReviewOmitted int64    `json:"review_omitted,omitempty"`
	// Errors lists rejected records by line: parse errors (with the field) and refusals by
	// the engine (an unknown tenant, a call already ended by another record); at most
	// MaxListed.
	Errors        []LineError `json:"errors,omitempty"`
	ErrorsOmitted int64       `json:"errors_omitted,omitempty"`
	// Charged is what the booked records (duplicates not counted again) charged, per tenant
	// and currency, by tenant.
	Charged []Total `json:"charged,omitempty"`
	// Start and End are the byte offsets of the source this report covers (CSV): a resumed
	// import starts at its checkpoint's offset.
	Start    int64         `json:"start_offset"`
	End      int64         `json:"end_offset"`
	Elapsed  time.Duration `json:"elapsed"`
	Resumed  bool          `json:"resumed,omitempty"`
	Complete bool          `json:"complete"` // the whole source was read and acknowledged
}

// OK reports whether no record was rejected.
func (r *Report) OK() bool { return r.Rejected == 0 }

// Review is a record booked for review.
type Review struct {
	Line     int             `json:"line"`
	Tenant   string          `json:"tenant"`
	CallID   string          `json:"call_id"`
	Leg      string          `json:"leg,omitempty"`
	FreeCall bool            `json:"free_call"`
	Reason   charging.Reason `json:"reason"`
}

// LineError is a rejected record: the line (CSV) or 1-based position (JSON), the field
// at fault when the record did not parse, and why.
type LineError struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Tenant string `json:"tenant,omitempty"`
	CallID string `json:"call_id,omitempty"`
	Msg    string `json:"msg"`
}

func (e LineError) String() string {
	s := fmt.Sprintf("line %d: ", e.Line)
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Msg
	if e.Field == "" && e.Tenant != "" {
		s += fmt.Sprintf(" (tenant %q, call %q)", e.Tenant, e.CallID)
	}
	return s
}

// Total is what one tenant's booked records charged in one currency.
type Total struct {
	Tenant   string       `json:"tenant"`
	Currency string       `json:"currency"`
	Amount   money.Amount `json:"amount"` // minor units
	CDRs     int64        `json:"cdrs"`   // booked records with a charge or pool seconds
	Seconds  int64        `json:"seconds"`
}

// Submitter is what an import needs of the writer.
type Submitter interface {
	Submit(ctx context.Context, tenantID, key string, cmd tenant.Command) (writer.Result, error)
}

var _ Submitter = (*writer.Writer)(nil)

// refusal says whether err is the engine refusing this one record (reported, the import goes
// on) rather than a failure of the import itself (the import stops; the record is not
// acknowledged, so a resume sends it again).
func refusal(err error) (string, bool) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "unknown tenant", true
	case errors.Is(err, writer.ErrIdempotencyMismatch):
		return "the call was already ended by another record or settle: " + err.Error(), true
	case errors.Is(err, tenant.ErrInvalidCall), errors.Is(err, tenant.ErrUnknownTenant),
		errors.Is(err, ledger.ErrInvalidCommand):
		return err.Error(), true
	}
	return "", false
}

// job is one record to submit; seq orders it for the low-water mark.
type job struct {
	seq  int64
	line int
	cdr  charging.CDR
}

type totalKey struct{ tenant, currency string }

// run is one import in progress: the window of records in flight and the report.
type run struct {
	opts  Options
	start time.Time

	mu      sync.Mutex
	cond    *sync.Cond
	window  int64
	done    []bool  // ring by seq % window: acknowledged
	ends    []int64 // ring by seq % window: the source offset after the record
	low     int64   // the oldest seq not acknowledged
	next    int64   // the next seq to hand out
	durable int64   // offset below which every record is acknowledged
	stopped bool    // a fatal error: stop reading
	fatal   error
	cancel  context.CancelFunc

	rep    Report
	totals map[totalKey]*Total

	finished atomic.Int64
	read     atomic.Int64 // offset read up to
}

func newRun(opts Options, startOffset int64) *run {
	r := &run{opts: opts, start: time.Now(), window: int64(2 * opts.InFlight), durable: startOffset,
		totals: map[totalKey]*Total{}}
	r.cond = sync.NewCond(&r.mu)
	r.done = make([]bool, r.window)
	r.ends = make([]int64, r.window)
	r.rep.Start, r.rep.End = startOffset, startOffset
	r.read.Store(startOffset)
	return r
}

// acquire hands out the next seq, waiting while the window is full. It returns false when
// the import must stop.
func (r *run) acquire(ctx context.Context, end int64) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.next-r.low >= r.window && !r.stopped && ctx.Err() == nil {
		r.cond.Wait()
	}
	if r.stopped || ctx.Err() != nil {
		return 0, false
	}
	seq := r.next
	r.next++
	r.ends[seq%r.window] = end
	return seq, true
}

// ack marks seq finished and moves the low-water mark. Call with r.mu held.
func (r *run) ackLocked(seq int64) {
	r.done[seq%r.window] = true
	for r.low < r.next && r.done[r.low%r.window] {
		i := r.low % r.window
		r.durable = r.ends[i]
		r.done[i] = false
		r.low++
	}
	r.finished.Add(1)
	r.cond.Broadcast()
}

func (r *run) fail(err error) {
	r.mu.Lock()
	if !r.stopped {
		r.stopped, r.fatal = true, err
	}
	r.cond.Broadcast()
	r.mu.Unlock()
	if r.cancel != nil {
		r.cancel()
	}
}

// reject records a record that did not parse or that the engine refused.
func (r *run) reject(seq int64, e LineError) {
	r.mu.Lock()
	r.rep.Rejected++
	if len(r.rep.Errors) < MaxListed {
		r.rep.Errors = append(r.rep.Errors, e)
	} else {
		r.rep.ErrorsOmitted++
	}
	r.ackLocked(seq)
	r.mu.Unlock()
}

// BatchSubmitter is a Submitter that also takes many commands in one call
// (writer.Writer.SubmitBatch); an import then sends records in batches of up to BatchSize.
type BatchSubmitter interface {
	Submitter
	SubmitBatch(ctx context.Context, items []writer.Item) []writer.Outcome
}

// BatchSize is how many records one worker sends to a BatchSubmitter at once.
const BatchSize = 256

// submit books one record and accounts for it.
func (r *run) submit(ctx context.Context, w Submitter, j *job) {
	res, err := w.Submit(ctx, j.cdr.Tenant, "", tenant.PostCDR{CDR: j.cdr})
	r.account(j, res, err)
}

// submitBatch books records in one call and accounts for each.
func (r *run) submitBatch(ctx context.Context, w BatchSubmitter, jobs []*job, items []writer.Item) []writer.Item {
	items = items[:0]
	for _, j := range jobs {
		items = append(items, writer.Item{Tenant: j.cdr.Tenant, Cmd: tenant.PostCDR{CDR: j.cdr}})
	}
	for i, o := range w.SubmitBatch(ctx, items) {
		r.account(jobs[i], o.Result, o.Err)
	}
	clear(items)
	return items
}

// batchWorker sends the records of jobs in batches of up to size until jobs closes: it takes
// what is waiting (at least one record) and sends it in one call.
func (r *run) batchWorker(ctx context.Context, w BatchSubmitter, jobs <-chan *job, size int) {
	batch := make([]*job, 0, size)
	var items []writer.Item
	for j := range jobs {
		batch = appendWaiting(append(batch[:0], j), jobs, size)
		items = r.submitBatch(ctx, w, batch, items)
		clear(batch)
	}
}

// appendWaiting appends to batch the records already waiting in jobs, up to size in all.
func appendWaiting(batch []*job, jobs <-chan *job, size int) []*job {
	for len(batch) < size {
		select {
		case j, ok := <-jobs:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// account records the outcome of one record.
func (r *run) account(j *job, res writer.Result, err error) {
	if err != nil {
		msg, ok := refusal(err)
		if !ok {
			r.fail(fmt.Errorf("line %d: %w", j.line, err))
			return
		}
		r.reject(j.seq, LineError{Line: j.line, Tenant: j.cdr.Tenant, CallID: j.cdr.CallID, Msg: msg})
		return
	}
	var st *charging.Settlement
	var review charging.Reason
	free := false
	cur := ""
	switch {
	case res.Priced != nil:
		st, free, review, cur = &res.Priced.Settlement, res.Priced.FreeCall, res.Priced.Review, res.Priced.Authorization.Currency.Code
	case res.Settlement != nil: // the CDR of a call in progress settled it
		st = res.Settlement
		review = charging.Reason(st.Usage.Review)
	}
	if cur == "" && st != nil {
		cur = st.Usage.Currency
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case res.Replayed:
		r.rep.Duplicates++
	case free:
		r.rep.FreeCalls++
	default:
		r.rep.Booked++
	}
	if !res.Replayed && (free || review != "") {
		if len(r.rep.Review) < MaxListed {
			r.rep.Review = append(r.rep.Review, Review{Line: j.line, Tenant: j.cdr.Tenant, CallID: j.cdr.CallID,
				Leg: j.cdr.Leg, FreeCall: free, Reason: review})
		} else {
			r.rep.ReviewOmitted++
		}
	}
	if !res.Replayed && !free && st != nil && (st.Charge != 0 || st.PoolSeconds > 0) {
		k := totalKey{j.cdr.Tenant, cur}
		t := r.totals[k]
		if t == nil {
			t = &Total{Tenant: k.tenant, Currency: k.currency}
			r.totals[k] = t
		}
		t.Amount += st.Charge
		t.CDRs++
		t.Seconds += j.cdr.Duration
	}
	r.ackLocked(j.seq)
}

func (r *run) progress(final bool) Progress {
	r.mu.Lock()
	durable := r.durable
	r.mu.Unlock()
	el := time.Since(r.start)
	n := r.finished.Load()
	p := Progress{Lines: n, Bytes: r.read.Load(), Durable: durable, Total: r.opts.Size, Elapsed: el, Final: final}
	if s := el.Seconds(); s > 0 {
		p.Rate = float64(n) / s
	}
	return p
}

// report finishes the report: sorted lists and totals.
func (r *run) report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.rep
	rep.Lines = rep.Booked + rep.Duplicates + rep.FreeCalls + rep.Rejected
	sort.Slice(rep.Errors, func(a, b int) bool { return rep.Errors[a].Line < rep.Errors[b].Line })
	sort.Slice(rep.Review, func(a, b int) bool { return rep.Review[a].Line < rep.Review[b].Line })
	rep.Charged = make([]Total, 0, len(r.totals))
	for _, t := range r.totals {
		rep.Charged = append(rep.Charged, *t)
	}
	sort.Slice(rep.Charged, func(a, b int) bool {
		x, y := rep.Charged[a], rep.Charged[b]
		if x.Tenant != y.Tenant {
			return x.Tenant < y.Tenant
		}
		return x.Currency < y.Currency
	})
	rep.End = r.durable
	rep.Elapsed = time.Since(r.start)
	return rep
}

// pipeline runs InFlight workers and the periodic progress and checkpoint calls around
// feed, which hands records to send (or rejects them) until the source ends.
func (r *run) pipeline(ctx context.Context, w Submitter, feed func(ctx context.Context, jobs chan<- *job) error,
	checkpoint func(durable int64, final bool) error) (Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.cancel = cancel
	jobs := make(chan *job, r.opts.InFlight)
	var wg sync.WaitGroup
	if bw, ok := w.(BatchSubmitter); ok {
		// Workers of up to BatchSize records each, InFlight records in all.
		size := min(BatchSize, r.opts.InFlight)
		for range r.opts.InFlight / size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.batchWorker(ctx, bw, jobs, size)
			}()
		}
	} else {
		for range r.opts.InFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					r.submit(ctx, w, j)
				}
			}()
		}
	}
	stopTick := make(chan struct{})
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		pt := time.NewTicker(r.opts.ProgressEvery)
		defer pt.Stop()
		ct := time.NewTicker(r.opts.CheckpointEvery)
		defer ct.Stop()
		last := int64(-1)
		for {
			select {
			case <-stopTick:
				return
			case <-pt.C:
				if r.opts.Progress != nil {
					r.opts.Progress(r.progress(false))
				}
			case <-ct.C:
				if checkpoint == nil {
					continue
				}
				if d := r.progress(false).Durable; d != last {
					if err := checkpoint(d, false); err != nil {
						r.fail(err)
						return
					}
					last = d
				}
			}
		}
	}()
	ferr := feed(ctx, jobs)
	close(jobs)
	wg.Wait()
	close(stopTick)
	<-tickDone

	r.mu.Lock()
	fatal := r.fatal
	complete := ferr == nil && fatal == nil && r.low == r.next
	r.mu.Unlock()
	if fatal == nil && ferr == nil && ctx.Err() != nil {
		ferr = ctx.Err()
	}
	rep := r.report()
	rep.Complete = complete
	var err error
	switch {
	case fatal != nil:
		err = fatal
	case ferr != nil:
		err = ferr
	}
	if checkpoint != nil {
		if cerr := checkpoint(rep.End, complete); cerr != nil && err == nil {
			err = cerr
		}
	}
	if r.opts.Progress != nil {
		r.opts.Progress(r.progress(true))
	}
	return rep, err
}

// ImportJSON books a batch of CDRs given as JSON (one object, an array, or JSON lines;
// docs/cdr.md). Line numbers in the report are 1-based record positions. Records that do not
// decode are rejected with their position and field; JSON so broken that decoding stops
// (wrapping charging.ErrCDRSource) is returned as the error after the records before it
// were booked. Checkpoint and Resume are ignored.
func ImportJSON(ctx context.Context, w Submitter, data []byte, opts Options) (Report, error) {
	opts.defaults()
	opts.Checkpoint, opts.Resume = "", false
	if opts.Size == 0 {
		opts.Size = int64(len(data))
	}
	if len(data) > charging.MaxCDRSource {
		return Report{}, fmt.Errorf("%w: larger than %d bytes", charging.ErrCDRSource, charging.MaxCDRSource)
	}
	r := newRun(opts, 0)
	rep, err := r.pipeline(ctx, w, func(ctx context.Context, jobs chan<- *job) error {
		return splitJSON(data, func(pos int, end int64, raw []byte) bool {
			seq, ok := r.acquire(ctx, end)
			if !ok {
				return false
			}
			r.read.Store(end)
			c, ce := decodeOne(raw, pos)
			if ce != nil {
				r.reject(seq, LineError{Line: ce.Line, Field: ce.Field, Msg: ce.Msg})
				return true
			}
			select {
			case jobs <- &job{seq: seq, line: pos, cdr: c}:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}, nil)
	return rep, err
}

// splitJSON hands each record of a JSON source (an object, an array of them, or JSON lines)
// to fn with its 1-based position and the offset after it, until fn returns false.
func splitJSON(data []byte, fn func(pos int, end int64, raw []byte) bool) error {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	dec := json.NewDecoder(bytes.NewReader(data))
	array := false
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		array = true
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("%w: %v", charging.ErrCDRSource, err)
		}
	}
	for pos := 1; ; pos++ {
		if array && !dec.More() {
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("%w: %v", charging.ErrCDRSource, err)
			}
			if _, err := dec.Token(); err != io.EOF {
				return fmt.Errorf("%w: data after the array", charging.ErrCDRSource)
			}
			return nil
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF && !array {
				return nil
			}
			return fmt.Errorf("%w: record %d: %v", charging.ErrCDRSource, pos, err)
		}
		if !fn(pos, dec.InputOffset(), raw) {
			return nil
		}
	}
}

// decodeOne decodes one JSON record with charging.DecodeJSON, numbered pos.
func decodeOne(raw []byte, pos int) (charging.CDR, *charging.CDRError) {
	if len(raw) == 0 || raw[0] != '{' {
		return charging.CDR{}, &charging.CDRError{Line: pos, Msg: "want a JSON object"}
	}
	cdrs, errs, err := charging.DecodeJSON(raw)
	switch {
	case err != nil:
		return charging.CDR{}, &charging.CDRError{Line: pos, Msg: err.Error()}
	case len(errs.List) > 0:
		e := errs.List[0]
		e.Line = pos
		return charging.CDR{}, &e
	case len(cdrs) != 1:
		return charging.CDR{}, &charging.CDRError{Line: pos, Msg: "want one record"}
	}
	return cdrs[0], nil
}

// Import books the CDRs of a CSV source (docs/cdr.md), with at most opts.InFlight waiting
// on the writer. A record that does not parse is rejected with its line and field and the
// import goes on; one the engine refuses (an unknown tenant, a call ended by another record)
// is rejected too. A failure of the import itself (the context ends, the writer or the
// database fails, the source cannot be read) stops it: the report covers what was
// acknowledged, and the checkpoint (when set) lets a later import resume without gaps.
func Import(ctx context.Context, w Submitter, src io.Reader, opts Options) (Report, error) {
	opts.defaults()
	if opts.Size == 0 {
		if f, ok := src.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
				opts.Size = fi.Size()
			}
		}
	}
	var cp *Checkpoint
	if opts.Resume && opts.Checkpoint != "" {
		c, err := ReadCheckpoint(opts.Checkpoint)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return Report{}, err
		default:
			cp = &c
		}
	}
	src, lineShift, err := skipTo(src, cp)
	if err != nil {
		return Report{}, err
	}
	rd, err := charging.NewCSVReader(src)
	if err != nil {
		return Report{}, err
	}
	hdr := rd.Offset()
	base := hdr // the source offset the reader's hdr stands for
	if cp != nil {
		if hdr != cp.HeaderBytes {
			return Report{}, fmt.Errorf("ingest: checkpoint %s does not match this file (a header of %d bytes, the checkpoint's has %d)",
				opts.Checkpoint, hdr, cp.HeaderBytes)
		}
		base = cp.Offset
	}
	// abs turns the reader's offset into the source's.
	abs := func(off int64) int64 { return base + off - hdr }
	startOffset := abs(hdr)
	r := newRun(opts, startOffset)
	r.rep.Resumed = cp != nil
	var checkpoint func(int64, bool) error
	if opts.Checkpoint != "" {
		checkpoint = func(durable int64, final bool) error {
			return writeCheckpoint(opts.Checkpoint, Checkpoint{Version: 1, Offset: durable, HeaderBytes: hdr,
				Size: opts.Size, Complete: final, UpdatedAt: time.Now().UTC()})
		}
	}
	return r.pipeline(ctx, w, func(ctx context.Context, jobs chan<- *job) error {
		for {
			c, line, err := rd.Next()
			if err == io.EOF {
				return nil
			}
			var ce *charging.CDRError
			if err != nil && !errors.As(err, &ce) {
				return fmt.Errorf("ingest: reading the source: %w", err)
			}
			end := abs(rd.Offset())
			r.read.Store(end)
			seq, ok := r.acquire(ctx, end)
			if !ok {
				return nil
			}
			if line > 0 {
				line += lineShift
			}
			if ce != nil {
				r.reject(seq, LineError{Line: ce.Line + lineShift, Field: ce.Field, Msg: ce.Msg})
				continue
			}
			select {
			case jobs <- &job{seq: seq, line: line, cdr: c}:
			case <-ctx.Done():
				return nil
			}
		}
	}, checkpoint)
}
