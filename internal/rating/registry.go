package rating

import (
	"fmt"
	"sync"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

// CardKey names a card series: one per service and currency.
type CardKey struct {
	Service  Service
	Currency string // ISO 4217
}

// Registry keeps every imported card version per (service, currency) in memory; the latest
// version is the current one. Every version is a complete card (rows carry their own
// effective dates), so an older version is kept only to explain charges that cite it.
// A Registry is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	cards map[CardKey][]*Card
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{cards: make(map[CardKey][]*Card)} }

// Import validates data and, when every line is good, adds it as the next version of the
// (service, currency) card. On any error nothing is added.
func (g *Registry) Import(s Service, cur money.Currency, data []byte, importedAt time.Time) (*Card, error) {
	rows, err := ParseCSV(data)
	if err != nil {
		return nil, err
	}
	// Compile outside the lock (it is the slow part); the version is set once the card's
	// place in the series is known, before anyone else can see it.
	c, err := Compile(Meta{Service: s, Currency: cur, ImportedAt: importedAt.UTC()}, rows, data)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	k := CardKey{s, cur.Code}
	c.meta.Version = len(g.cards[k]) + 1
	g.cards[k] = append(g.cards[k], c)
	return c, nil
}

// Add restores a card version read back from storage; its version must be the next one.
func (g *Registry) Add(c *Card) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := CardKey{c.meta.Service, c.meta.Currency.Code}
	if want := len(g.cards[k]) + 1; c.meta.Version != want {
		return fmt.Errorf("rating: %s is version %d, want %d", k, c.meta.Version, want)
	}
	g.cards[k] = append(g.cards[k], c)
	return nil
}

func (k CardKey) String() string { return string(k.Service) + "/" + k.Currency }

// Current returns the latest version of the (service, currency) card.
func (g *Registry) Current(s Service, currency string) (*Card, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	vs := g.cards[CardKey{s, currency}]
	if len(vs) == 0 {
		return nil, false
	}
	return vs[len(vs)-1], true
}

// Version returns version v of the (service, currency) card.
func (g *Registry) Version(s Service, currency string, v int) (*Card, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	vs := g.cards[CardKey{s, currency}]
	if v < 1 || v > len(vs) {
		return nil, false
	}
	return vs[v-1], true
}

// Versions returns every version of the (service, currency) card, oldest first.
func (g *Registry) Versions(s Service, currency string) []*Card {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return append([]*Card(nil), g.cards[CardKey{s, currency}]...)
}
