package store

import (
	"context"
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/rating"
)

// LoadRateCards adds to reg every stored card version it does not hold yet, in version
// order, and returns how many it added. Called on start and now and then, it brings cards
// imported by other processes in.
func (s *SQL) LoadRateCards(ctx context.Context, reg *rating.Registry) (int, error) {
	type stored struct {
		meta   rating.Meta
		source []byte
	}
	var cards []stored
	err := each(ctx, s.read, `SELECT service, currency, version, imported_at FROM rate_cards ORDER BY service, currency, version`,
		nil, func(r rows) error {
			var svc, code string
			var version int
			var at int64
			if err := r.Scan(&svc, &code, &version, &at); err != nil {
				return err
			}
			if len(reg.Versions(rating.Service(svc), code)) >= version {
				return nil
			}
			cur, err := money.LookupCurrency(code)
			if err != nil {
				return fmt.Errorf("rate card %s/%s/v%d: %w", svc, code, version, err)
			}
			cards = append(cards, stored{meta: rating.Meta{Service: rating.Service(svc), Currency: cur, Version: version, ImportedAt: fromNano(at)}})
			return nil
		})
	if err != nil {
		return 0, err
	}
	for _, c := range cards {
		err := each(ctx, s.read, `SELECT source FROM rate_cards WHERE service = ? AND currency = ? AND version = ?`,
			[]any{string(c.meta.Service), c.meta.Currency.Code, c.meta.Version}, func(r rows) error { return r.Scan(&c.source) })
		if err != nil {
			return 0, err
		}
		card, err := rating.Import(c.meta, c.source)
		if err != nil {
			return 0, fmt.Errorf("stored rate card %s/%s/v%d: %w", c.meta.Service, c.meta.Currency.Code, c.meta.Version, err)
		}
		if err := reg.Add(card); err != nil {
			return 0, err
		}
	}
	return len(cards), nil
}

// ImportRateCard validates data as the next version of the (service, currency) card,
// stores it and adds it to reg. Nothing is stored when any line is bad (the error lists
// every bad line). When another process stores the same version first, the import is
// compiled again as the version after it.
func (s *SQL) ImportRateCard(ctx context.Context, reg *rating.Registry, svc rating.Service, cur money.Currency, data []byte, at time.Time) (*rating.Card, error) {
	for attempt := 0; ; attempt++ {
		if _, err := s.LoadRateCards(ctx, reg); err != nil {
			return nil, err
		}
		meta := rating.Meta{Service: svc, Currency: cur, Version: len(reg.Versions(svc, cur.Code)) + 1, ImportedAt: at.UTC()}
		card, err := rating.Import(meta, data)
		if err != nil {
			return nil, err
		}
		err = s.WriteTx(ctx, func(tx Tx) error {
			n, err := tx.(*sqlTx).q.exec(ctx, `INSERT INTO rate_cards (service, currency, version, imported_at, digest, rows, source)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (service, currency, version) DO NOTHING`,
				string(svc), cur.Code, meta.Version, meta.ImportedAt.UnixNano(), card.Digest(), card.Len(), data)
			if err == nil && n == 0 {
				err = ErrConflict
			}
			return err
		})
		if err != nil && s.Retryable(err) && attempt < 10 {
			continue // another process stored this version first, or PostgreSQL saw the race (40001)
		}
		if err != nil {
			return nil, err
		}
		if err := reg.Add(card); err != nil {
			return nil, err
		}
		return card, nil
	}
}

// RateCardInfo describes one stored card version.
type RateCardInfo struct {
	Service    rating.Service `json:"service"`
	Currency   string         `json:"currency"`
	Version    int            `json:"version"`
	ImportedAt time.Time      `json:"imported_at"`
	Digest     string         `json:"sha256"`
	Rows       int            `json:"rows"`
}

// RateCardVersions lists every stored card version.
func (s *SQL) RateCardVersions(ctx context.Context) ([]RateCardInfo, error) {
	var out []RateCardInfo
	err := each(ctx, s.read, `SELECT service, currency, version, imported_at, digest, rows FROM rate_cards ORDER BY service, currency, version`,
		nil, func(r rows) error {
			var i RateCardInfo
			var svc string
			var at int64
			if err := r.Scan(&svc, &i.Currency, &i.Version, &at, &i.Digest, &i.Rows); err != nil {
				return err
			}
			i.Service, i.ImportedAt = rating.Service(svc), fromNano(at)
			out = append(out, i)
			return nil
		})
	return out, err
}
