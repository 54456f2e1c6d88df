package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Checkpoint is where a CSV import may resume: every record before Offset is durably
// booked, refused or rejected.
type Checkpoint struct {
	Version     int       `json:"version"`
	Offset      int64     `json:"offset"`       // bytes of the source acknowledged
	HeaderBytes int64     `json:"header_bytes"` // bytes up to the end of the header line (a byte-order mark included)
	Size        int64     `json:"size,omitempty"`
	Complete    bool      `json:"complete"` // the whole source was imported
	UpdatedAt   time.Time `json:"updated_at"`
}

// ReadCheckpoint reads a checkpoint file; a missing file is an error wrapping os.ErrNotExist.
func ReadCheckpoint(path string) (Checkpoint, error) {
	var c Checkpoint
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("ingest: checkpoint %s: %w", path, err)
	}
	if c.Version != 1 || c.HeaderBytes <= 0 || c.Offset < c.HeaderBytes {
		return c, fmt.Errorf("ingest: checkpoint %s: not a valid checkpoint (version %d, offset %d, header %d bytes)",
			path, c.Version, c.Offset, c.HeaderBytes)
	}
	return c, nil
}

// writeCheckpoint replaces the file atomically: a temporary file, synced, renamed over it.
func writeCheckpoint(path string, c Checkpoint) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("ingest: checkpoint: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("ingest: checkpoint: %w", err)
	}
	return nil
}

// skipTo positions src for a resume from cp: the header bytes, then the source from
// cp.Offset on. lineShift is what to add to the reader's line numbers to get the file's
// (the newlines skipped between the header and the offset). The skipped part is read, not
// seeked over, to count its lines (it runs at memory speed); with no checkpoint, src as is.
func skipTo(src io.Reader, cp *Checkpoint) (io.Reader, int, error) {
	if cp == nil {
		return src, 0, nil
	}
	header := make([]byte, cp.HeaderBytes)
	if _, err := io.ReadFull(src, header); err != nil {
		return nil, 0, fmt.Errorf("ingest: resume: reading the header: %w", err)
	}
	skip := cp.Offset - cp.HeaderBytes
	lines := 0
	br := bufio.NewReaderSize(src, 1<<20)
	for skip > 0 {
		b, err := br.Peek(int(min(skip, int64(br.Size()))))
		lines += bytes.Count(b, []byte{'\n'})
		n, _ := br.Discard(len(b))
		skip -= int64(n)
		if err != nil && skip > 0 {
			if errors.Is(err, io.EOF) {
				return nil, 0, fmt.Errorf("ingest: resume: the source is shorter than the checkpoint's offset %d", cp.Offset)
			}
			return nil, 0, fmt.Errorf("ingest: resume: %w", err)
		}
	}
	return io.MultiReader(bytes.NewReader(header), br), lines, nil
}
