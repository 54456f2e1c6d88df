package store

import (
	"context"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/directory"
)

// What directory_test.go (package store_test, which may import storetest) needs of the
// unexported directory persistence.

// SaveDirectory writes c in one write transaction with directoryStmts and returns how many
// statements it took.
func SaveDirectory(ctx context.Context, s *SQL, tenant string, c *directory.Changes, d *directory.Directory) (int, error) {
	stmts := directoryStmts(nil, tenant, c, d)
	return len(stmts), s.WriteTx(ctx, func(tx Tx) error {
		return execAll(ctx, tx.(*sqlTx).q, stmts, func(int, int64) error { return nil })
	})
}

// LoadDirectory reads a directory in a write transaction and on the read path; both must agree.
func LoadDirectory(ctx context.Context, s *SQL, tenant string) (inTx, read *directory.Directory, err error) {
	err = s.WriteTx(ctx, func(tx Tx) (err error) {
		inTx, err = loadDirectory(ctx, tx.(*sqlTx).q, tenant)
		return err
	})
	if err == nil {
		read, err = loadDirectory(ctx, s.read, tenant)
	}
	return inTx, read, err
}

// UnpreparedDirectoryTexts lists the directory statements SQLite failed to prepare.
func UnpreparedDirectoryTexts(s *SQL) []string {
	if s.d.Kind() != db.SQLite {
		return nil
	}
	var out []string
	for _, q := range append(dirTexts[0][:0:0], append(flat(), dirUpsertSettings, dirDeletePurchased)...) {
		if s.stmts.get(q) == nil {
			out = append(out, q)
		}
	}
	return out
}

func flat() (out []string) {
	for k := range dirTexts {
		out = append(out, dirTexts[k][:]...)
	}
	return out
}
