package service

import (
	"context"
	"errors"
	"testing"

	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A secret trusted in process keeps authenticating after the key cache was emptied (it
// is emptied when unknown secrets fill it), and an unknown secret still does not.
func TestTrustedSecretOutlivesTheKeyCache(t *testing.T) {
	ctx := context.Background()
	s := &Service{Store: storetest.Open(t, "sqlite:"+t.TempDir()+"/s.db")}
	trusted, _ := NewSecret()
	want := Principal{KeyID: "in-process", Role: RoleOperator}
	s.TrustSecret(trusted, want)
	s.keys = map[[32]byte]cachedKey{}
	for i := range 100_001 {
		s.keys[[32]byte{byte(i), byte(i >> 8), byte(i >> 16)}] = cachedKey{revoked: true}
	}
	unknown, _ := NewSecret()
	if _, err := s.Authenticate(ctx, unknown); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("unknown secret: %v", err)
	}
	if len(s.keys) != 1 {
		t.Fatalf("the full cache was not emptied: %d entries", len(s.keys))
	}
	if p, err := s.Authenticate(ctx, trusted); err != nil || p != want {
		t.Fatalf("trusted secret after the cache emptied: %+v %v", p, err)
	}
}
