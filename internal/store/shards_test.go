package store_test

import (
	"strings"
	"testing"

	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

// TestWriteShards: one writer shard on SQLite's one write connection; on PostgreSQL
// PostgresShards, or half of a smaller pool the DSN asks for.
func TestWriteShards(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		if strings.HasPrefix(dsn, "sqlite:") {
			if n := s.WriteShards(); n != 1 {
				t.Fatalf("SQLite: %d shards", n)
			}
			return
		}
		if n := s.WriteShards(); n != store.PostgresShards {
			t.Fatalf("PostgreSQL: %d shards, want %d", n, store.PostgresShards)
		}
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		small := storetest.Open(t, dsn+sep+"pool_max_conns=2")
		if n := small.WriteShards(); n != 1 {
			t.Fatalf("PostgreSQL with a pool of 2: %d shards, want 1", n)
		}
	})
}
