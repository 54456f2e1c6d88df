package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/crypto/bcrypt"

	"github.com/commcredits/commcredits/internal/db"
)

// Roles, named as the API names them. Switch is an API key role: it has no web pages.
const (
	RoleOperator      = "operator"
	RoleTenantAdmin   = "tenant_admin"
	RoleBillingAdmin  = "billing_admin"
	RoleReportsReader = "reports_reader"
	RoleSwitch        = "switch"
)

// Errors of the account store.
var (
	ErrBadCredentials = errors.New("email or password is wrong")
	ErrNoSession      = errors.New("no session")
	ErrExpired        = errors.New("session expired")
	ErrLinkInvalid    = errors.New("this sign-in link is invalid, used or expired")
	ErrAccountExists  = errors.New("an account with this email exists already")
	ErrNoAccount      = errors.New("no account with this email")
)

// Lifetimes.
const (
	SessionTTL = 12 * time.Hour
	LinkTTL    = 15 * time.Minute
	// MinPassword is the shortest password accepted.
	MinPassword = 12
)

// Account is a web sign-in.
type Account struct {
	ID        string
	Email     string
	Role      string
	Tenant    string // "" for an operator
	CreatedAt time.Time
	hash      string
}

// Operator reports whether the account may work on every tenant.
func (a *Account) Operator() bool { return a.Role == RoleOperator }

// Session is a signed-in browser.
type Session struct {
	Account   Account
	Tenant    string // the tenant worked on; "" for an operator who has not picked one
	CSRF      string
	ExpiresAt time.Time
	idHash    string
}

// Accounts keeps web accounts, sessions and sign-in links in the engine's database.
type Accounts struct {
	read, write *sql.DB
	pg          bool
	now         func() time.Time
}

// NewAccounts opens the account store on d (migrated). now is the clock (nil: time.Now).
func NewAccounts(d *db.DB, now func() time.Time) *Accounts {
	if now == nil {
		now = time.Now
	}
	a := &Accounts{now: now}
	if d.Kind() == db.Postgres {
		sdb := stdlib.OpenDBFromPool(d.Pool())
		a.read, a.write, a.pg = sdb, sdb, true
	} else {
		a.read, a.write = d.Read(), d.Write()
	}
	return a
}

// q turns ? placeholders into PostgreSQL's $n.
func (s *Accounts) q(text string) string {
	if !s.pg {
		return text
	}
	var b strings.Builder
	n := 0
	for _, r := range text {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ValidRole reports whether role may sign in to the web (every API role but switch).
func ValidRole(role string) bool {
	switch role {
	case RoleOperator, RoleTenantAdmin, RoleBillingAdmin, RoleReportsReader:
		return true
	}
	return false
}

// NormalizeEmail checks and lower-cases an email address.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s, "@") {
		return "", fmt.Errorf("%q is not an email address", s)
	}
	return strings.ToLower(s), nil
}

// Create adds an account. password may be empty (sign-in by link only); otherwise it needs
// MinPassword characters. An operator has no tenant; every other role has one.
func (s *Accounts) Create(ctx context.Context, email, password, role, tenantID string) (Account, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Account{}, err
	}
	switch {
	case role == RoleSwitch:
		return Account{}, fmt.Errorf("role %q is for API keys of switches, not for web accounts", role)
	case !ValidRole(role):
		return Account{}, fmt.Errorf("unknown role %q (want operator, tenant_admin, billing_admin or reports_reader)", role)
	case role == RoleOperator && tenantID != "":
		return Account{}, errors.New("an operator works on every tenant: give no tenant")
	case role != RoleOperator && tenantID == "":
		return Account{}, fmt.Errorf("role %s needs a tenant", role)
	}
	hash := ""
	if password != "" {
		if len([]rune(password)) < MinPassword {
			return Account{}, fmt.Errorf("the password needs at least %d characters", MinPassword)
		}
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return Account{}, fmt.Errorf("password: %w", err)
		}
		hash = string(h)
	}
	acc := Account{ID: "acc_" + token(12), Email: email, Role: role, Tenant: tenantID, CreatedAt: s.now().UTC(), hash: hash}
	// The email's unique key decides, also between two creations at once.
	res, err := s.write.ExecContext(ctx, s.q(`INSERT INTO web_accounts (id, email, password_hash, role, tenant_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`), acc.ID, acc.Email, acc.hash, acc.Role, acc.Tenant, acc.CreatedAt.UnixNano())
	if err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	} else if n == 0 {
		return Account{}, ErrAccountExists
	}
	return acc, nil
}

const accountCols = `id, email, password_hash, role, tenant_id, created_at`

func scanAccount(r interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var at int64
	if err := r.Scan(&a.ID, &a.Email, &a.hash, &a.Role, &a.Tenant, &at); err != nil {
		return Account{}, err
	}
	a.CreatedAt = time.Unix(0, at).UTC()
	return a, nil
}

// ByEmail finds an account; sql.ErrNoRows when there is none.
func (s *Accounts) ByEmail(ctx context.Context, email string) (Account, error) {
	return scanAccount(s.read.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM web_accounts WHERE email = ?`),
		strings.ToLower(strings.TrimSpace(email))))
}

// List lists accounts by email.
func (s *Accounts) List(ctx context.Context) ([]Account, error) {
	return s.list(ctx, `SELECT `+accountCols+` FROM web_accounts ORDER BY email`)
}

// ListTenant lists the accounts of one tenant by email ("": the operators).
func (s *Accounts) ListTenant(ctx context.Context, tenantID string) ([]Account, error) {
	return s.list(ctx, s.q(`SELECT `+accountCols+` FROM web_accounts WHERE tenant_id = ? ORDER BY email`), tenantID)
}

func (s *Accounts) list(ctx context.Context, query string, args ...any) ([]Account, error) {
	r, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Account
	for r.Next() {
		a, err := scanAccount(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, r.Err()
}

// dummyHash keeps a sign-in for an unknown email as slow as one for a known one.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), bcrypt.DefaultCost)

// Authenticate checks an email and password.
func (s *Accounts) Authenticate(ctx context.Context, email, password string) (Account, error) {
	a, err := s.ByEmail(ctx, email)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && a.hash == "") {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return Account{}, ErrBadCredentials
	}
	if err != nil {
		return Account{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(a.hash), []byte(password)) != nil {
		return Account{}, ErrBadCredentials
	}
	return a, nil
}

// token returns n random bytes, URL-safe base64.
func token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// StartSession signs a in and returns the cookie value.
func (s *Accounts) StartSession(ctx context.Context, a Account) (string, *Session, error) {
	t := token(32)
	now := s.now().UTC()
	sess := &Session{Account: a, Tenant: a.Tenant, CSRF: token(32), ExpiresAt: now.Add(SessionTTL), idHash: hashToken(t)}
	_, err := s.write.ExecContext(ctx, s.q(`INSERT INTO web_sessions (id_hash, account_id, tenant_id, csrf, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`), sess.idHash, a.ID, sess.Tenant, sess.CSRF, now.UnixNano(), sess.ExpiresAt.UnixNano())
	if err != nil {
		return "", nil, fmt.Errorf("start session: %w", err)
	}
	return t, sess, nil
}

// Session finds the session of a cookie value: ErrNoSession when there is none, ErrExpired
// when it has expired (it is deleted then).
func (s *Accounts) Session(ctx context.Context, cookie string) (*Session, error) {
	if cookie == "" {
		return nil, ErrNoSession
	}
	h := hashToken(cookie)
	row := s.read.QueryRowContext(ctx, s.q(`SELECT s.tenant_id, s.csrf, s.expires_at, a.id, a.email, a.password_hash, a.role,
		a.tenant_id, a.created_at FROM web_sessions s JOIN web_accounts a ON a.id = s.account_id WHERE s.id_hash = ?`), h)
	sess := &Session{idHash: h}
	var exp, at int64
	err := row.Scan(&sess.Tenant, &sess.CSRF, &exp, &sess.Account.ID, &sess.Account.Email, &sess.Account.hash,
		&sess.Account.Role, &sess.Account.Tenant, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrExpired // a cookie we issued once: signed out or expired and swept
	}
	if err != nil {
		return nil, err
	}
	sess.ExpiresAt, sess.Account.CreatedAt = time.Unix(0, exp).UTC(), time.Unix(0, at).UTC()
	if !s.now().Before(sess.ExpiresAt) {
		_ = s.EndSession(ctx, cookie)
		return nil, ErrExpired
	}
	return sess, nil
}

// EndSession deletes a session (logout).
func (s *Accounts) EndSession(ctx context.Context, cookie string) error {
	_, err := s.write.ExecContext(ctx, s.q(`DELETE FROM web_sessions WHERE id_hash = ?`), hashToken(cookie))
	return err
}

// SetTenant switches the tenant a session works on.
func (s *Accounts) SetTenant(ctx context.Context, sess *Session, tenantID string) error {
	_, err := s.write.ExecContext(ctx, s.q(`UPDATE web_sessions SET tenant_id = ? WHERE id_hash = ?`), tenantID, sess.idHash)
	if err == nil {
		sess.Tenant = tenantID
	}
	return err
}

// ExpireSession moves a session's expiry (tests, and an admin forcing a sign-out).
func (s *Accounts) ExpireSession(ctx context.Context, cookie string, at time.Time) error {
	_, err := s.write.ExecContext(ctx, s.q(`UPDATE web_sessions SET expires_at = ? WHERE id_hash = ?`), at.UnixNano(), hashToken(cookie))
	return err
}

// NewLink makes a one-time sign-in token for the account with email, valid LinkTTL. Only its
// hash is stored.
func (s *Accounts) NewLink(ctx context.Context, email string) (string, Account, error) {
	a, err := s.ByEmail(ctx, email)
	if errors.Is(err, sql.ErrNoRows) {
		return "", Account{}, fmt.Errorf("%w: %s", ErrNoAccount, email)
	}
	if err != nil {
		return "", Account{}, err
	}
	t := token(32)
	now := s.now().UTC()
	_, err = s.write.ExecContext(ctx, s.q(`INSERT INTO web_login_links (token_hash, account_id, created_at, expires_at)
		VALUES (?, ?, ?, ?)`), hashToken(t), a.ID, now.UnixNano(), now.Add(LinkTTL).UnixNano())
	if err != nil {
		return "", Account{}, fmt.Errorf("sign-in link: %w", err)
	}
	return t, a, nil
}

// UseLink spends a sign-in token: it works once, within LinkTTL.
func (s *Accounts) UseLink(ctx context.Context, t string) (Account, error) {
	if t == "" {
		return Account{}, ErrLinkInvalid
	}
	h := hashToken(t)
	now := s.now().UnixNano()
	// One statement marks it used only if unused and unexpired: two clicks race on the row.
	res, err := s.write.ExecContext(ctx, s.q(`UPDATE web_login_links SET used_at = ?
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`), now, h, now)
	if err != nil {
		return Account{}, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Account{}, ErrLinkInvalid
	}
	return scanAccount(s.write.QueryRowContext(ctx, s.q(`SELECT a.id, a.email, a.password_hash, a.role, a.tenant_id, a.created_at
		FROM web_login_links l JOIN web_accounts a ON a.id = l.account_id WHERE l.token_hash = ?`), h))
}

// Sweep deletes expired sessions and links.
func (s *Accounts) Sweep(ctx context.Context) error {
	now := s.now().UnixNano()
	if _, err := s.write.ExecContext(ctx, s.q(`DELETE FROM web_sessions WHERE expires_at <= ?`), now); err != nil {
		return err
	}
	_, err := s.write.ExecContext(ctx, s.q(`DELETE FROM web_login_links WHERE expires_at <= ?`), now)
	return err
}
