package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/notify"
)

type webhooksView struct {
	Log        bool // a WebhookSource is wired: the delivery log and resend are shown
	Hooks      []Webhook
	Deliveries []Delivery
	Types      []string // the event types an endpoint can filter on
	Editing    string   // id of the endpoint the form replaces; "" adds one
	// NewSecret is the generated signing secret of the endpoint just created, shown once.
	NewSecret, NewID string
}

// webhooksView lists the endpoints from the directory (or the WebhookSource when wired)
// and the delivery log when there is one.
func (s *Server) webhooksView(r *http.Request, c *reqCtx) (*webhooksView, error) {
	v := &webhooksView{Log: s.d.Webhooks != nil}
	for _, t := range notify.Types {
		v.Types = append(v.Types, string(t))
	}
	if s.d.Webhooks != nil {
		var err error
		if v.Hooks, err = s.d.Webhooks.Webhooks(r.Context(), c.tenant.ID); err != nil {
			return nil, err
		}
		if v.Deliveries, err = s.d.Webhooks.Deliveries(r.Context(), c.tenant.ID, 100); err != nil {
			return nil, err
		}
		return v, nil
	}
	st, err := s.state(r, c)
	if err != nil {
		return nil, err
	}
	for _, w := range st.Dir.Webhooks {
		v.Hooks = append(v.Hooks, Webhook{ID: w.ID, URL: w.URL, Events: w.Events, Active: true})
	}
	slices.SortFunc(v.Hooks, func(a, b Webhook) int { return strings.Compare(a.ID, b.ID) })
	return v, nil
}

// webhooksShow renders the webhooks page: page's messages and form over the endpoints as
// they are now, with edit's changes to the view.
func (s *Server) webhooksShow(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, page view, edit func(*webhooksView)) {
	v, err := s.webhooksView(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	if edit != nil {
		edit(v)
	}
	page.Title, page.Active, page.D = "Webhooks", "webhooks", v
	s.render(w, r, c, code, "webhooks", page)
}

func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	v, err := s.webhooksView(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	form := url.Values{}
	if id := r.URL.Query().Get("edit"); id != "" {
		i := slices.IndexFunc(v.Hooks, func(h Webhook) bool { return h.ID == id })
		if i < 0 {
			s.render(w, r, c, http.StatusNotFound, "webhooks", view{Title: "Webhooks", Active: "webhooks", D: v, Form: form,
				Flash: "No webhook " + id + "."})
			return
		}
		v.Editing = id
		form.Set("url", v.Hooks[i].URL)
		form["events"] = v.Hooks[i].Events
	}
	s.render(w, r, c, http.StatusOK, "webhooks", view{Title: "Webhooks", Active: "webhooks", D: v, Form: form})
}

// webhookPut adds an endpoint (id "" in the form) or replaces one. A new endpoint without a
// secret gets a generated one, shown on the answer page only: the page is rendered, not
// redirected to, so the secret never sits in a cookie or a URL. Sending the form again
// (a reload) reuses its idempotency key with another secret, which the writer refuses, so
// no second endpoint is made.
func (s *Server) webhookPut(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id := strings.TrimSpace(r.PostFormValue("id"))
	raw := strings.TrimSpace(r.PostFormValue("url"))
	events := r.PostForm["events"]
	secret := strings.TrimSpace(r.PostFormValue("secret"))
	var fe formError
	if raw == "" {
		fe.add("url", "Enter the endpoint's address, starting with https:// (or http://).")
	} else if err := notify.ValidateURL(raw); err != nil {
		fe.add("url", "Enter an http:// or https:// address with a host, without a user name or password.")
	}
	for _, e := range events {
		if !notify.Type(e).Valid() {
			fe.add("events", fmt.Sprintf("%q is not an event type.", e))
		}
	}
	if secret != "" && (len(secret) < directory.MinSecretLen || len(secret) > directory.MaxSecretLen) {
		fe.add("secret", fmt.Sprintf("A secret has %d to %d characters; leave it empty to have one made.", directory.MinSecretLen, directory.MaxSecretLen))
	}
	again := func(fe formError) {
		form := url.Values{"url": {raw}, "events": events} // the secret is not echoed back
		s.webhooksShow(w, r, c, http.StatusUnprocessableEntity, view{Errors: fe.Fields, Form: form, Flash: nothingChanged(fe)},
			func(v *webhooksView) { v.Editing = id })
	}
	if !fe.empty() {
		again(fe)
		return
	}
	creating := id == ""
	generated := false
	if creating {
		var b [6]byte
		_, _ = rand.Read(b[:])
		id = "wh_" + hex.EncodeToString(b[:])
		if secret == "" {
			secret, generated = directory.NewWebhookSecret(), true
		}
	} else if st, err := s.state(r, c); err != nil {
		s.fail(w, r, c, err)
		return
	} else if st.Dir.Webhooks[id] == nil {
		// PutWebhook would create it; a replace form names one that exists.
		fe.add("", "There is no webhook "+id+" to replace (it may have been deleted meanwhile).")
		id = ""
		again(fe)
		return
	}
	cmd := directory.PutWebhook{Webhook: directory.Webhook{ID: id, URL: raw, Secret: secret, Events: events}}
	if _, err := s.submit(r, c, cmd); err != nil {
		if creating {
			id = ""
		}
		s.refused(w, r, c, err, map[string]string{"url": "url", "events": "events", "secret": "secret"}, again)
		return
	}
	if !creating {
		s.done(w, r, "/ui/webhooks", "Webhook "+id+" saved.")
		return
	}
	msg := "Webhook " + id + " created."
	if generated {
		msg += " Copy its signing secret below now: it is not shown again."
	}
	s.webhooksShow(w, r, c, http.StatusOK, view{Flash: msg}, func(v *webhooksView) {
		if generated {
			v.NewSecret, v.NewID = secret, id
		}
	})
}

func (s *Server) webhookDelete(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id := r.PostFormValue("id")
	if _, err := s.submit(r, c, directory.DeleteWebhook{ID: id}); err != nil {
		s.refused(w, r, c, err, nil, func(fe formError) {
			s.webhooksShow(w, r, c, http.StatusUnprocessableEntity, view{Flash: nothingChanged(fe)}, nil)
		})
		return
	}
	s.done(w, r, "/ui/webhooks", "Webhook "+id+" deleted.")
}
