package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// cancelAfterBatch is cancelAfter for the batch path: it cancels the import's context once
// after records were sent, in the middle of a batch.
type cancelAfterBatch struct {
	w      *writer.Writer
	n      atomic.Int64
	after  int64
	cancel context.CancelFunc
}

func (c *cancelAfterBatch) Submit(ctx context.Context, id, key string, cmd tenant.Command) (writer.Result, error) {
	return c.w.Submit(ctx, id, key, cmd)
}

func (c *cancelAfterBatch) SubmitBatch(ctx context.Context, items []writer.Item) []writer.Outcome {
	if n := c.n.Add(int64(len(items))); n >= c.after && n-int64(len(items)) < c.after {
		c.cancel()
	}
	return c.w.SubmitBatch(ctx, items)
}

// An import sent in batches, cancelled half way and resumed from its checkpoint, ends in
// the state of a clean import: the checkpoint never passes a record its batch did not
// commit, and what was committed but not acknowledged is found duplicate, not charged again.
func TestResumeBatched(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			names := make([]string, 10)
			for i := range names {
				names[i] = fmt.Sprintf("t%02d", i)
			}
			cdrs, _ := genCDRs(4000, names, 5)
			data := csvOf(t, cdrs)
			dir := t.TempDir()
			cp := filepath.Join(dir, "cdrs.checkpoint")

			sClean := storetest.Open(t, e.DSN(t))
			wClean, ids := setup(t, sClean, 10, 1_000_000)
			clean, err := ingest.Import(bg, wClean, bytes.NewReader(data), ingest.Options{})
			if err != nil || clean.Lines != 4000 {
				t.Fatalf("clean: %+v %v", clean, err)
			}

			s := storetest.Open(t, e.DSN(t))
			w, _ := setup(t, s, 10, 1_000_000)
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			first, err := ingest.Import(ctx, &cancelAfterBatch{w: w, after: 2000, cancel: cancel}, bytes.NewReader(data),
				ingest.Options{InFlight: 512, Checkpoint: cp})
			if !errors.Is(err, context.Canceled) || first.Complete {
				t.Fatalf("cancelled import: %v %+v", err, first)
			}
			c, err := ingest.ReadCheckpoint(cp)
			if err != nil || c.Complete || c.Offset != first.End {
				t.Fatalf("checkpoint %+v %v", c, err)
			}
			if err := os.WriteFile(filepath.Join(dir, "cdrs.csv"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(dir, "cdrs.csv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			second, err := ingest.Import(bg, w, f, ingest.Options{InFlight: 512, Checkpoint: cp, Resume: true})
			if err != nil || !second.Complete || second.Start != c.Offset {
				t.Fatalf("resumed: %+v %v", second, err)
			}
			if first.Lines+second.Lines != 4000 ||
				first.Booked+first.FreeCalls+second.Booked+second.FreeCalls+second.Duplicates != 4000 {
				t.Fatalf("first %+v\nsecond %+v", first, second)
			}
			t.Logf("first %d lines (booked %d), second %d (duplicates %d)", first.Lines, first.Booked, second.Lines, second.Duplicates)
			if got, want := dbState(t, s, ids), dbState(t, sClean, ids); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("resumed state differs from a clean import:\n got %v\nwant %v", got, want)
			}
		})
	}
}
