package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// The tenant's web accounts: a tenant admin or an operator invites an admin of the tenant,
// who receives a one-time sign-in link.

type accountsView struct {
	List  []Account
	Roles []string
}

func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.accountsRender(w, r, c, http.StatusOK, formError{}, nil)
}

func (s *Server) accountsRender(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, fe formError, form url.Values) {
	list, err := s.acc.ListTenant(r.Context(), c.tenant.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	v := accountsView{List: list, Roles: []string{RoleTenantAdmin, RoleBillingAdmin, RoleReportsReader}}
	s.render(w, r, c, code, "accounts", view{Title: "Admins", Active: "accounts", D: v, Errors: fe.Fields, Form: form,
		Flash: pageFlash(code, fe)})
}

func (s *Server) inviteAccount(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f := r.PostForm
	var fe formError
	email, err := NormalizeEmail(f.Get("invite_email"))
	if err != nil {
		fe.add("invite_email", "Enter an email address, like name@example.com.")
	}
	role := f.Get("invite_role")
	if role != RoleTenantAdmin && role != RoleBillingAdmin && role != RoleReportsReader {
		fe.add("invite_role", "Choose tenant_admin, billing_admin or reports_reader.")
	}
	if fe.empty() {
		if _, err = s.acc.Create(r.Context(), email, "", role, c.tenant.ID); errors.Is(err, ErrAccountExists) {
			fe.add("invite_email", "This address has an account already.")
		} else if err != nil {
			fe.add("invite_email", upperFirst(err.Error())+".")
		}
	}
	if !fe.empty() {
		s.accountsRender(w, r, c, http.StatusUnprocessableEntity, fe, f)
		return
	}
	msg := "Account " + email + " (" + role + ") created; a sign-in link is on its way."
	t, _, err := s.acc.NewLink(r.Context(), email)
	if err == nil {
		err = s.d.Links.SendLink(r.Context(), email, s.linkURL(r, t))
	}
	if err != nil {
		s.log.Error("web: invitation link", "err", err)
		msg = "Account " + email + " (" + role + ") created, but the sign-in link could not be sent: they can ask for one on the sign-in page."
	}
	s.log.Info("web: account invited", "by", c.sess.Account.ID, "email", email, "role", role, "tenant", c.tenant.ID)
	s.done(w, r, "/ui/accounts", strings.TrimSpace(msg))
}
