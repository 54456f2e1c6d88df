package rating

import "github.com/commcredits/commcredits/internal/money"

// MaxCallSeconds bounds the duration the charge functions price (31 days); a longer duration
// is priced as this long. It keeps rate × seconds within int64 for every valid rate.
const MaxCallSeconds = 31 * 24 * 3600

// Billed returns the seconds billed for a call of d seconds on initial/subsequent
// increments (domain §3): 0 for d ≤ 0, initial for d ≤ initial, else initial plus d − initial
// rounded up to a multiple of subsequent. Increments below 1 are taken as 1.
func Billed(d, initial, subsequent int64) int64 {
	if d <= 0 {
		return 0
	}
	initial = max(initial, 1)
	subsequent = max(subsequent, 1)
	if d <= initial {
		return initial
	}
	return initial + (d-initial+subsequent-1)/subsequent*subsequent
}

// Charge returns the charge of a call of d seconds rated by r in currency cur: the
// connection fee (when withFee) plus rate × billed seconds / 60, rounded half away from zero
// to the minor unit once. An unanswered call (d ≤ 0) costs nothing.
func Charge(r *Row, d int64, withFee bool, cur money.Currency) money.Amount {
	if d <= 0 {
		return 0
	}
	d = min(d, MaxCallSeconds)
	var fee money.Rate
	if withFee {
		fee = r.Fee
	}
	return money.CallCharge(r.Rate, fee, Billed(d, r.Initial, r.Subsequent), cur)
}

// MaxSeconds returns the longest duration d ≤ limit (and ≤ MaxCallSeconds) whose Charge is
// at most a: what an amount buys on row r. It is 0 when a does not pay even the first
// increment (or is negative). When every duration up to the limit is affordable (a free
// row, say) it is the limit.
func MaxSeconds(r *Row, a money.Amount, withFee bool, cur money.Currency, limit int64) int64 {
	limit = min(limit, MaxCallSeconds)
	if limit <= 0 || a < 0 {
		return 0
	}
	if Charge(r, limit, withFee, cur) <= a {
		return limit
	}
	initial, sub := max(r.Initial, 1), max(r.Subsequent, 1)
	if limit <= initial || Charge(r, initial, withFee, cur) > a {
		return 0
	}
	// Billed seconds only change at initial + k·sub, so the answer is one of those points:
	// the largest k with an affordable charge. Charge is non-decreasing in k.
	lo, hi := int64(0), (limit-initial)/sub // Charge(initial+lo·sub) ≤ a
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if Charge(r, initial+mid*sub, withFee, cur) <= a {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return initial + lo*sub
}

// Split is how a call of some seconds divides between a minute pool and credits.
type Split struct {
	PoolSeconds   int64        // drawn from the pool: exact seconds, no increments
	CreditSeconds int64        // the rest, paid from credits
	CreditCharge  money.Amount // the charge of CreditSeconds on the row's increments
	Fee           bool         // CreditCharge includes the connection fee (the call started on credits)
}

// SplitCall divides a call of d seconds when poolLeft seconds remain in the pool that covers
// it (domain §3): the pool pays up to poolLeft exact seconds; the remainder is charged as a
// call of its own with the row's increments and no connection fee. A call that starts with
// an empty pool is a credits call and pays the connection fee. r may be nil when the pool
// covers the whole call.
func SplitCall(r *Row, poolLeft, d int64, cur money.Currency) Split {
	switch {
	case d <= 0:
		return Split{}
	case poolLeft >= d:
		return Split{PoolSeconds: d}
	case poolLeft <= 0:
		return Split{CreditSeconds: d, CreditCharge: Charge(r, d, true, cur), Fee: true}
	}
	rest := d - poolLeft
	return Split{PoolSeconds: poolLeft, CreditSeconds: rest, CreditCharge: Charge(r, rest, false, cur)}
}
