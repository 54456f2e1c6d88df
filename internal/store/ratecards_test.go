package store_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

const cardV1 = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n" +
	"1,United States,fixed_or_mobile,0.01,0,60,60,2026-01-01,false\n"

func TestRateCardsPersistEveryVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		reg := rating.NewRegistry()
		c1, err := s.ImportRateCard(ctx, reg, rating.Outbound, usd, []byte(cardV1), t0)
		if err != nil || c1.Version() != 1 {
			t.Fatalf("v1: %v", err)
		}
		v2 := cardV1 + "44,United Kingdom,fixed,0.02,0,60,1,2026-01-01,false\n"
		if c2, err := s.ImportRateCard(ctx, reg, rating.Outbound, usd, []byte(v2), t0); err != nil || c2.Version() != 2 {
			t.Fatalf("v2: %v", err)
		}
		bad := cardV1 + "44,United Kingdom,fixed,-0.02,0,60,1,2026-01-01,false\n"
		var ie *rating.ImportError
		if _, err := s.ImportRateCard(ctx, reg, rating.Outbound, usd, []byte(bad), t0); !errors.As(err, &ie) {
			t.Fatalf("bad card: %v", err)
		}
		// A process that starts later sees both versions, byte for byte; the bad one left nothing.
		other := rating.NewRegistry()
		if n, err := storetest.Open(t, dsn).LoadRateCards(ctx, other); err != nil || n != 2 {
			t.Fatalf("load: %d %v", n, err)
		}
		got, ok := other.Version(rating.Outbound, "USD", 1)
		// The same digest: the stored source is cardV1 byte for byte.
		if !ok || got.Digest() != c1.Digest() {
			t.Fatalf("v1 after reload: %v", ok)
		}
		if cur, _ := other.Current(rating.Outbound, "USD"); cur.Version() != 2 {
			t.Fatalf("current is v%d", cur.Version())
		}
	})
}

// Two processes importing at once get consecutive versions, not a conflict error.
func TestRateCardImportsRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		other := storetest.Open(t, dsn)
		var wg sync.WaitGroup
		versions := make([]int, 2)
		for i, st := range []*store.SQL{s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := st.ImportRateCard(ctx, rating.NewRegistry(), rating.Outbound, usd, []byte(cardV1), t0)
				if err != nil {
					t.Error(err)
					return
				}
				versions[i] = c.Version()
			}()
		}
		wg.Wait()
		if versions[0]+versions[1] != 3 {
			t.Fatalf("versions %v", versions)
		}
	})
}
