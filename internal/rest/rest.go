// Package rest is the business HTTP API under /v1 (docs/api.md): huma operations over the
// service package, an OpenAPI 3.1 document at /openapi.json and a docs page at /docs.
//
// Every operation declares who may call it (an access class, checked by one middleware
// before the handler runs) and is scoped by its {tenant} path parameter: a tenant key
// reaching for another tenant gets 404, as if the tenant did not exist.
package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"golang.org/x/time/rate"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Access classes: who may call an operation.
const (
	accAny       = "any"       // any valid key
	accOperator  = "operator"  // operator keys only
	accRead      = "read"      // every role of the tenant but switch (and catalogs shared by all tenants)
	accDirectory = "directory" // tenant_admin
	accBilling   = "billing"   // tenant_admin, billing_admin
	accCalls     = "calls"     // tenant_admin, switch
	accKeys      = "keys"      // tenant_admin
)

// Allowed reports whether role may call an operation of access class acc (operators may
// call everything).
func Allowed(acc, role string) bool {
	if role == service.RoleOperator {
		return true
	}
	switch acc {
	case accAny:
		return true
	case accRead:
		return role == service.RoleTenantAdmin || role == service.RoleBillingAdmin || role == service.RoleReportsReader
	case accDirectory, accKeys:
		return role == service.RoleTenantAdmin
	case accBilling:
		return role == service.RoleTenantAdmin || role == service.RoleBillingAdmin
	case accCalls:
		return role == service.RoleTenantAdmin || role == service.RoleSwitch
	}
	return false
}

// rolesOf lists the roles that may call operations of access class acc.
func rolesOf(acc string) string {
	var out []string
	for _, r := range append([]string{service.RoleOperator}, service.TenantRoles...) {
		if Allowed(acc, r) {
			out = append(out, r)
		}
	}
	return strings.Join(out, ", ")
}

// Config tunes the API.
type Config struct {
	Version string
	// RateLimit is the sustained requests per second allowed per key, Burst its bucket.
	// Zero: 2,000/s with a burst of 4,000; negative: no limit.
	RateLimit float64
	Burst     int
	// MaxBody bounds JSON bodies (default 1 MiB); MaxUpload CSV uploads (default 32 MiB).
	MaxBody   int64
	MaxUpload int64
	Logger    *slog.Logger // default slog.Default()
}

// API is the mounted /v1 API.
type API struct {
	huma.API
	svc      *service.Service
	cfg      Config
	limiters sync.Map // key id → *rate.Limiter
	// settings serializes, per tenant (striped), the changes of users and funding settings
	// in this process, so that an If-Match checked against the committed state still holds
	// when the command is applied. Other processes sharing the database are not covered
	// (docs/api.md).
	settings [64]sync.Mutex
}

// lockTenant locks the tenant's settings stripe and returns the unlock.
func (a *API) lockTenant(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	m := &a.settings[h.Sum32()%uint32(len(a.settings))]
	m.Lock()
	return m.Unlock
}

type ctxKey struct{}

var namedRequired sync.Once

// errorLog receives the causes of 500s (problem has no request to carry a logger).
var errorLog atomic.Pointer[slog.Logger]

func init() { errorLog.Store(slog.Default()) }

// Mount registers the /v1 operations, /openapi.json and /docs on mux.
func Mount(mux *http.ServeMux, svc *service.Service, cfg Config) *API {
	if cfg.RateLimit == 0 {
		cfg.RateLimit, cfg.Burst = 2000, 4000
	}
	if cfg.Burst <= 0 {
		cfg.Burst = int(math.Max(1, cfg.RateLimit))
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 32 << 20
	}
	if cfg.Logger != nil {
		errorLog.Store(cfg.Logger)
	}
	hc := huma.DefaultConfig("Commcredits API", cfg.Version)
	hc.Info.Description = "Prepaid communications credits: tenants, directory, credits, calls and CDRs. See docs/api.md."
	hc.DocsPath = "" // the default page loads its script from a CDN; ours is served below
	hc.CreateHooks = nil
	hc.Components.Schemas = huma.NewMapRegistry("#/components/schemas/", schemaName)
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API key: Authorization: Bearer cc_live_…"},
	}
	hc.Security = []map[string][]string{{"bearer": {}}}
	namedRequired.Do(func() {
		base := huma.NewError
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			for _, e := range errs {
				// "expected required property x to be present" at body → at body.x, so
				// that every problem names its field in the location.
				if d, ok := e.(*huma.ErrorDetail); ok {
					if f, ok := strings.CutPrefix(d.Message, "expected required property "); ok {
						if f, ok = strings.CutSuffix(f, " to be present"); ok {
							d.Location += "." + f
						}
					}
				}
			}
			return base(status, msg, errs...)
		}
	})
	a := &API{API: humago.New(mux, hc), svc: svc, cfg: cfg}
	a.UseMiddleware(a.authenticate)
	a.routes()
	mux.HandleFunc("GET /docs", serveDocs)
	return a
}

// schemaName names component schemas by package and type (tenant.Result is TenantResult),
// because several packages have a Result or an Error.
func schemaName(t reflect.Type, hint string) string {
	name := huma.DefaultSchemaNamer(t, hint)
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Name() != "" && t.PkgPath() != "" && !strings.HasSuffix(t.PkgPath(), "/rest") && !strings.HasPrefix(name, "Map") {
		pkg := path.Base(t.PkgPath())
		return strings.ToUpper(pkg[:1]) + pkg[1:] + name
	}
	return name
}

// op declares an operation. Every one names its access class and carries a body limit.
func (a *API) op(id, method, p, summary, acc string, tags ...string) huma.Operation {
	o := huma.Operation{OperationID: id, Method: method, Path: p, Summary: summary, Tags: tags,
		Metadata: map[string]any{"access": acc}, MaxBodyBytes: a.cfg.MaxBody, Description: "Roles: " + rolesOf(acc) + "."}
	if method == http.MethodPost {
		o.DefaultStatus = http.StatusOK
	}
	return o
}

// principal is the caller, set by authenticate.
func principal(ctx context.Context) service.Principal {
	p, _ := ctx.Value(ctxKey{}).(service.Principal)
	return p
}

func (a *API) authenticate(ctx huma.Context, next func(huma.Context)) {
	acc, _ := ctx.Operation().Metadata["access"].(string)
	if acc == "" {
		// Every operation declares its access; one that forgot is closed, not open.
		huma.WriteErr(a, ctx, http.StatusInternalServerError, "operation declares no access class")
		return
	}
	h := ctx.Header("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="commcredits"`)
		huma.WriteErr(a, ctx, http.StatusUnauthorized, "missing API key: send Authorization: Bearer <key>")
		return
	}
	p, err := a.svc.Authenticate(ctx.Context(), strings.TrimSpace(secret))
	if err != nil {
		if errors.Is(err, service.ErrUnauthenticated) {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="commcredits", error="invalid_token"`)
			huma.WriteErr(a, ctx, http.StatusUnauthorized, "unknown or revoked API key")
			return
		}
		errorLog.Load().Error("api: key lookup", "err", err)
		huma.WriteErr(a, ctx, http.StatusServiceUnavailable, "cannot check the API key now")
		return
	}
	if a.cfg.RateLimit > 0 {
		l, ok := a.limiters.Load(p.KeyID)
		if !ok {
			l, _ = a.limiters.LoadOrStore(p.KeyID, rate.NewLimiter(rate.Limit(a.cfg.RateLimit), a.cfg.Burst))
		}
		if !l.(*rate.Limiter).Allow() {
			ctx.SetHeader("Retry-After", strconv.Itoa(int(math.Ceil(1/a.cfg.RateLimit))))
			huma.WriteErr(a, ctx, http.StatusTooManyRequests, "rate limit of this API key exceeded; retry after the time in Retry-After")
			return
		}
	}
	if t := ctx.Param("tenant"); t != "" && !p.Operator() && t != p.Tenant {
		// The same answer as for a tenant that does not exist: a key learns nothing of others.
		huma.WriteErr(a, ctx, http.StatusNotFound, "tenant not found", &huma.ErrorDetail{Location: "path.tenant", Value: t})
		return
	}
	if !Allowed(acc, p.Role) {
		huma.WriteErr(a, ctx, http.StatusForbidden, fmt.Sprintf("role %s may not call %s", p.Role, ctx.Operation().OperationID))
		return
	}
	ctx, body, err := cleanText(ctx)
	defer body.release()
	if err != nil {
		huma.WriteErr(a, ctx, http.StatusBadRequest, err.Error())
		return
	}
	next(huma.WithValue(ctx, ctxKey{}, p))
}

// cleanText refuses NUL bytes and invalid UTF-8 in the path, the query, the Idempotency-Key
// and the body (a JSON \u0000 included): PostgreSQL cannot store them, and a command
// carrying one would be a 500 rather than a 400 naming what is wrong (the writer runs a
// command the database refuses alone, so the others of its batch are not failed with it).
// The body is read here (as far as the operation's limit) into a pooled buffer and handed
// on unchanged; the returned *bodyCtx (nil when no body was read) gives the buffer back
// with release once the request has been answered.
func cleanText(ctx huma.Context) (huma.Context, *bodyCtx, error) {
	u := ctx.URL()
	if bad(u.Path) {
		return ctx, nil, errors.New("the path holds a NUL byte or invalid UTF-8")
	}
	if u.RawQuery != "" {
		for k, vs := range u.Query() {
			for _, v := range append(vs, k) {
				if bad(v) {
					return ctx, nil, fmt.Errorf("query parameter %q holds a NUL byte or invalid UTF-8", k)
				}
			}
		}
	}
	if bad(ctx.Header("Idempotency-Key")) {
		return ctx, nil, errors.New("header Idempotency-Key holds a NUL byte or invalid UTF-8")
	}
	limit := ctx.Operation().MaxBodyBytes
	if limit <= 0 || ctx.Method() == http.MethodGet {
		return ctx, nil, nil
	}
	bc := bodyPool.Get().(*bodyCtx)
	bc.humaCtx = ctx
	bc.limited = io.LimitedReader{R: ctx.BodyReader(), N: limit + 1}
	if _, err := bc.buf.ReadFrom(&bc.limited); err != nil {
		return ctx, bc, fmt.Errorf("cannot read the body: %v", err)
	}
	body := bc.buf.Bytes()
	if bytes.IndexByte(body, 0) >= 0 || !utf8.Valid(body) || jsonNUL(body) {
		return ctx, bc, errors.New("the body holds a NUL byte (\\u0000 included) or invalid UTF-8")
	}
	bc.r.Reset(body)
	if int64(len(body)) <= limit {
		// The limit did not stop the read: the body ended.
		bc.body = &bc.r
	} else {
		bc.body = io.MultiReader(&bc.r, bc.limited.R)
	}
	return bc, bc, nil
}

// bodyPool holds the bodyCtxs, with the buffers cleanText reads bodies into: a request
// with a body allocates neither.
var bodyPool = sync.Pool{New: func() any { return &bodyCtx{buf: bytes.NewBuffer(make([]byte, 0, 1024))} }}

func bad(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }

// jsonNUL reports whether b holds the JSON escape \u0000 (not an escaped backslash before u0000).
func jsonNUL(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		j += i
		n := 0
		for k := j - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = j + 1
	}
}

// bodyCtx hands on a body that cleanText has read.
type bodyCtx struct {
	humaCtx // an alias: a field named Context would hide the method Context()
	buf     *bytes.Buffer
	limited io.LimitedReader
	r       bytes.Reader
	body    io.Reader
}

// release gives c and its buffer back to the pool (c may be nil).
func (c *bodyCtx) release() {
	if c == nil || c.buf.Cap() > 64<<10 { // one large upload must not stay pinned in the pool
		return
	}
	c.buf.Reset()
	c.humaCtx, c.limited, c.body = nil, io.LimitedReader{}, nil
	c.r.Reset(nil)
	bodyPool.Put(c)
}

type humaCtx = huma.Context

func (c *bodyCtx) BodyReader() io.Reader { return c.body }
func (c *bodyCtx) Unwrap() huma.Context  { return c.humaCtx }

// problem turns an engine error into an HTTP problem naming the field at fault. Anything
// it does not know is a 500 with no detail (the cause goes to the log by the caller).
func problem(err error) error {
	if err == nil {
		return nil
	}
	var se huma.StatusError
	if errors.As(err, &se) {
		return err
	}
	var de *directory.Error
	if errors.As(err, &de) {
		loc := "body"
		if de.Field != "" {
			loc = "body." + de.Field
		}
		detail := &huma.ErrorDetail{Location: loc, Message: de.Msg}
		switch {
		case errors.Is(err, directory.ErrNotFound):
			return huma.Error404NotFound(de.Error(), detail)
		case errors.Is(err, directory.ErrConflict):
			return huma.Error409Conflict(de.Error(), detail)
		case errors.Is(err, directory.ErrCreditsNotSetUp):
			return huma.Error409Conflict(de.Error()+" (credits are set up by the first funding)", detail)
		}
		return huma.Error422UnprocessableEntity(de.Error(), detail)
	}
	var rfe *recharge.FieldError
	if errors.As(err, &rfe) {
		return huma.Error422UnprocessableEntity(err.Error(), &huma.ErrorDetail{Location: "body." + snake(rfe.Field), Message: rfe.Problem})
	}
	var rpe *report.FieldError
	if errors.As(err, &rpe) {
		return huma.Error422UnprocessableEntity(rpe.Error(), &huma.ErrorDetail{Location: "query." + rpe.Field, Message: rpe.Msg})
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return huma.Error422UnprocessableEntity(fe.Error(), &huma.ErrorDetail{Location: fe.loc, Message: fe.msg, Value: fe.value})
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, tenant.ErrUnknownTenant):
		return huma.Error404NotFound(strings.TrimSuffix(err.Error(), ": not found") + " not found")
	case errors.Is(err, store.ErrExists):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, writer.ErrIdempotencyMismatch) && strings.Contains(err.Error(), `key "call:`):
		// Settle, release and CDRs are keyed by their call: this call was ended before,
		// with other values.
		return huma.Error409Conflict("the call was already ended by another settle, release or CDR: "+err.Error(),
			&huma.ErrorDetail{Location: "path.call_id"})
	case errors.Is(err, writer.ErrIdempotencyMismatch), errors.Is(err, service.ErrReplayMismatch):
		return huma.Error422UnprocessableEntity(err.Error(), &huma.ErrorDetail{Location: "header.Idempotency-Key",
			Message: "this key was used with another request"})
	case errors.Is(err, tenant.ErrUnknownCall):
		return huma.Error404NotFound(err.Error(), &huma.ErrorDetail{Location: "path.call_id"})
	case errors.Is(err, tenant.ErrCallExists):
		return huma.Error409Conflict(err.Error(), &huma.ErrorDetail{Location: "path.call_id"})
	case errors.Is(err, tenant.ErrInvalidCall), errors.Is(err, service.ErrInvalid), errors.Is(err, recharge.ErrInvalid),
		errors.Is(err, ledger.ErrInvalidAmount), errors.Is(err, ledger.ErrInvalidCommand):
		return huma.Error422UnprocessableEntity(err.Error())
	case errors.Is(err, recharge.ErrConflict):
		return huma.Error412PreconditionFailed(err.Error(), &huma.ErrorDetail{Location: "header.If-Match"})
	case errors.Is(err, recharge.ErrBusy), errors.Is(err, ledger.ErrInsufficientFunds),
		errors.Is(err, ledger.ErrDuplicateReservation), errors.Is(err, ledger.ErrUnknownReservation):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, service.ErrJobsUnavailable):
		return huma.Error503ServiceUnavailable(err.Error() + "; the delivery log and resends need serve's job queue")
	case errors.Is(err, writer.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		return huma.Error503ServiceUnavailable("the engine is shutting down or busy; retry with the same Idempotency-Key")
	case errors.Is(err, context.Canceled):
		return huma.Error503ServiceUnavailable("request cancelled")
	case errors.Is(err, money.ErrPrecision), errors.Is(err, money.ErrSyntax), errors.Is(err, money.ErrRange):
		return huma.Error422UnprocessableEntity(err.Error())
	}
	var rce *rating.ImportError
	if errors.As(err, &rce) {
		details := make([]error, 0, len(rce.Errors))
		for _, le := range rce.Errors {
			loc := "body.line[" + itoa(le.Line) + "]"
			if le.Column != "" {
				loc += "." + le.Column
			}
			details = append(details, &huma.ErrorDetail{Location: loc, Message: le.Msg})
		}
		return huma.Error422UnprocessableEntity("rate card rejected: nothing stored", details...)
	}
	if errors.Is(err, charging.ErrCDRSource) {
		return huma.Error422UnprocessableEntity(err.Error(), &huma.ErrorDetail{Location: "body"})
	}
	// The cause can name hosts or SQL: it goes to the log, not to the client.
	errorLog.Load().Error("api: internal error", "err", err)
	return huma.Error500InternalServerError("internal error")
}

// fieldError is bad input found by a handler (an amount with the wrong precision).
type fieldError struct {
	loc, msg string
	value    any
}

func (e *fieldError) Error() string { return e.loc + ": " + e.msg }

func badField(loc string, value any, format string, args ...any) error {
	return &fieldError{loc: loc, msg: fmt.Sprintf(format, args...), value: value}
}

// amount parses a decimal amount of the tenant's currency, naming loc when it is bad.
func amount(loc, s string, cur money.Currency) (money.Amount, error) {
	a, err := money.ParseAmount(s, cur)
	if err != nil {
		return 0, badField(loc, s, "%v (amounts are decimal strings in %s with at most %d decimals)", err, cur.Code, cur.Digits)
	}
	return a, nil
}

// requestHash identifies a request for stored responses: operation, path and body.
func requestHash(opID string, parts ...any) []byte {
	h := sha256.New()
	h.Write([]byte(opID))
	for _, p := range parts {
		b, _ := json.Marshal(p)
		h.Write([]byte{0})
		h.Write(b)
	}
	return h.Sum(nil)
}

// Cursor pagination: a cursor is the opaque position after the last item returned.

// PageQuery is the query of every list.
type PageQuery struct {
	Cursor string `query:"cursor" maxLength:"200" doc:"opaque cursor from next_cursor of the previous page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"items per page"`
}

func (q PageQuery) limit() int {
	if q.Limit <= 0 {
		return 100
	}
	return q.Limit
}

// page cuts items (sorted by key) to those after the cursor, at most limit.
func page[T any](items []T, key func(T) string, q PageQuery) ([]T, string) {
	after := decodeCursor(q.Cursor)
	i := 0
	if after != "" {
		for i < len(items) && key(items[i]) <= after {
			i++
		}
	}
	items = items[i:]
	n := q.limit()
	if len(items) <= n {
		return items, ""
	}
	return items[:n], encodeCursor(key(items[n-1]))
}

// listOut is a page of a list.
type listOut[T any] struct {
	Body struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"next_cursor,omitempty"`
	}
}

// positioned is the page of all (a whole list in a stable order) that starts at start (from
// position) and, while more follow, the positional cursor after it.
func positioned[T any](all []T, start, limit int) ([]T, string) {
	start = min(start, len(all))
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = encodeCursor(strconv.Itoa(end))
	}
	return append([]T{}, all[start:end]...), next
}

// fetched converts rows a store returned after the cursor (sorted by key, at least limit+1
// asked for): the first limit of them and, when there were more, the cursor after the last
// one kept.
func fetched[T, O any](rows []T, limit int, key func(T) string, conv func(T) O) ([]O, string) {
	out := []O{}
	for i, r := range rows {
		if i == limit {
			return out, encodeCursor(key(rows[i-1]))
		}
		out = append(out, conv(r))
	}
	return out, ""
}

func encodeCursor(k string) string { return base64.RawURLEncoding.EncodeToString([]byte(k)) }

func decodeCursor(c string) string {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "\xff" // a cursor that is not ours lists nothing rather than everything
	}
	return string(b)
}

// etagOf is a strong ETag of v's JSON.
func etagOf(v any) string {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return `"` + fmt.Sprintf("%x", h[:12]) + `"`
}

// checkIfMatch compares If-Match with the current ETag: a missing If-Match is accepted
// (docs/api.md), a different one is 412.
func checkIfMatch(ifMatch, current string) error {
	if ifMatch == "" || ifMatch == "*" {
		return nil
	}
	for _, t := range strings.Split(ifMatch, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == current {
			return nil
		}
	}
	return huma.Error412PreconditionFailed("the resource changed since it was read (If-Match does not match its ETag); read it again",
		&huma.ErrorDetail{Location: "header.If-Match", Value: ifMatch})
}

// now is the time the API reads state at.
func now() time.Time { return time.Now().UTC() }

func itoa(i int) string { return strconv.Itoa(i) }

func errorsAs[T any](err error, target *T) bool { return errors.As(err, target) }

// snake turns a Go field name into the JSON one (MonthlyCap → monthly_cap).
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
