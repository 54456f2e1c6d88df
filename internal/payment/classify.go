package payment

// decline is what a provider code means for the recharge policy and for the tenant.
type decline struct {
	kind   Kind
	reason string
}

// declines maps Stripe's decline codes (and the card error codes that stand in for them
// when no decline code is given) to a Kind. Stripe's decline codes are the de-facto
// vocabulary of card issuers, so the fake provider uses the same table.
//
// Hard means retrying the same card cannot succeed: the card is gone or invalid, the issuer
// said not to retry, or (off-session) the customer must be present to authenticate.
var declines = map[string]decline{
	// Card no longer valid.
	"expired_card":         {KindHardDecline, "card expired"},
	"lost_card":            {KindHardDecline, "card reported lost"},
	"stolen_card":          {KindHardDecline, "card reported stolen"},
	"pickup_card":          {KindHardDecline, "card reported lost or stolen"},
	"incorrect_number":     {KindHardDecline, "invalid card number"},
	"invalid_number":       {KindHardDecline, "invalid card number"},
	"invalid_expiry_month": {KindHardDecline, "invalid card expiry date"},
	"invalid_expiry_year":  {KindHardDecline, "invalid card expiry date"},
	"incorrect_cvc":        {KindHardDecline, "invalid card security code"},
	"invalid_cvc":          {KindHardDecline, "invalid card security code"},
	"invalid_account":      {KindHardDecline, "card account closed or invalid"},
	"restricted_card":      {KindHardDecline, "card restricted by the issuer"},
	"card_not_supported":   {KindHardDecline, "card does not support this payment"},
	"currency_not_supported": {
		KindHardDecline, "card does not support this currency"},
	"new_account_information_available": {
		KindHardDecline, "card replaced by the issuer; please update your card"},
	// Issuer said no and not to retry.
	"do_not_honor":                     {KindHardDecline, "card declined by the issuer"},
	"do_not_try_again":                 {KindHardDecline, "card declined by the issuer"},
	"call_issuer":                      {KindHardDecline, "card declined by the issuer"},
	"fraudulent":                       {KindHardDecline, "card declined by the issuer"},
	"merchant_blacklist":               {KindHardDecline, "card declined by the issuer"},
	"security_violation":               {KindHardDecline, "card declined by the issuer"},
	"stop_payment_order":               {KindHardDecline, "recurring payments stopped by the cardholder"},
	"revocation_of_authorization":      {KindHardDecline, "recurring payments stopped by the cardholder"},
	"revocation_of_all_authorizations": {KindHardDecline, "recurring payments stopped by the cardholder"},
	"transaction_not_allowed":          {KindHardDecline, "card does not allow this payment"},
	"not_permitted":                    {KindHardDecline, "card does not allow this payment"},
	"service_not_allowed":              {KindHardDecline, "card does not allow this payment"},
	"pin_try_exceeded":                 {KindHardDecline, "card locked by the issuer"},
	"testmode_decline":                 {KindHardDecline, "test card used in live mode"},
	// Off-session the customer is not there to pass 3-D Secure: retrying cannot help.
	"authentication_required": {KindHardDecline, "your bank requires you to authenticate this payment"},

	// May succeed later.
	"insufficient_funds":               {KindSoftDecline, "insufficient funds"},
	"card_velocity_exceeded":           {KindSoftDecline, "card spending limit reached"},
	"withdrawal_count_limit_exceeded":  {KindSoftDecline, "card spending limit reached"},
	"processing_error":                 {KindSoftDecline, "processing error at the card issuer"},
	"issuer_not_available":             {KindSoftDecline, "card issuer unavailable"},
	"try_again_later":                  {KindSoftDecline, "card declined temporarily"},
	"reenter_transaction":              {KindSoftDecline, "card declined temporarily"},
	"approve_with_id":                  {KindSoftDecline, "card declined temporarily"},
	"duplicate_transaction":            {KindSoftDecline, "duplicate payment refused by the issuer"},
	"generic_decline":                  {KindSoftDecline, "card declined"},
	"card_declined":                    {KindSoftDecline, "card declined"},
	"card_decline_rate_limit_exceeded": {KindSoftDecline, "too many declined attempts; retrying later"},
	"rate_limit":                       {KindSoftDecline, "payment provider busy; retrying later"},
	"lock_timeout":                     {KindSoftDecline, "payment provider busy; retrying later"},

	// The provider failed while processing; the charge may have happened.
	"api_error": {KindUnknownOutcome, "payment provider error"},
}

// Classify returns the Kind and the tenant-facing reason for a provider decline code. An
// unknown code is a soft decline: the policy retries a bounded number of times and then
// suspends, which is the safe side for a code nobody has seen yet.
func Classify(code string) (Kind, string) {
	if d, ok := declines[code]; ok {
		return d.kind, d.reason
	}
	return KindSoftDecline, "card declined"
}
