package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/commcredits/commcredits/internal/directory"
)

// Webhook endpoints are added, replaced and deleted from the page through the directory's
// commands; a generated secret is shown once; bad input changes nothing.
func TestWebhookForms(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	hooks := func() map[string]*directory.Webhook { return h.state().Dir.Webhooks }
	c := h.client(nil)
	c.signIn("billing@acme.test")
	if code, body, _ := c.get("/ui/webhooks"); code != 200 || !strings.Contains(body, `id="webhook-form"`) {
		t.Fatalf("webhooks page: %d\n%s", code, body)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"ftp URL", url.Values{"url": {"ftp://hooks.example.test/x"}}, `id="url-err"`},
		{"not a URL", url.Values{"url": {"hooks.example.test"}}, `id="url-err"`},
		{"empty URL", url.Values{"url": {""}}, `id="url-err"`},
		{"credentials in the URL", url.Values{"url": {"https://u:p@hooks.example.test/"}}, `id="url-err"`},
		{"unknown event", url.Values{"url": {"https://hooks.example.test/"}, "events": {"balance_low", "nope"}}, `id="events-err"`},
		{"short secret", url.Values{"url": {"https://hooks.example.test/"}, "secret": {"short"}}, `id="secret-err"`},
		{"secret with spaces", url.Values{"url": {"https://hooks.example.test/"}, "secret": {"a secret with spaces in it"}}, `id="secret-err"`},
		{"replace an unknown one", url.Values{"id": {"wh_nope"}, "url": {"https://hooks.example.test/"}}, "no webhook wh_nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := c.post("/ui/webhooks", tc.form)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) || !strings.Contains(body, "Nothing was changed") {
				t.Fatalf("%d, want 422 with %q\n%s", code, tc.want, body)
			}
			if n := len(hooks()); n != 0 {
				t.Fatalf("a refused webhook was stored: %d", n)
			}
		})
	}

	form := url.Values{"url": {"https://hooks.example.test/cc"}, "events": {"recharge_failed", "balance_low"}, "idem": {"create-1"}}
	code, body, _ := c.post("/ui/webhooks", form)
	m := regexp.MustCompile(`id="new-secret">(whsec_[0-9a-f]{64})<`).FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("create: %d\n%s", code, body)
	}
	secret := m[1]
	hs := hooks()
	if len(hs) != 1 {
		t.Fatalf("webhooks stored: %d", len(hs))
	}
	var id string
	for k, w := range hs {
		id = k
		if w.URL != form.Get("url") || w.Secret != secret || !slices.Equal(w.Events, []string{"balance_low", "recharge_failed"}) {
			t.Fatalf("stored %+v, shown secret %s", w, secret)
		}
	}
	// The form sent again (a reload) makes no second endpoint and shows no secret.
	if code, body, _ := c.post("/ui/webhooks", form); code != 422 || strings.Contains(body, "whsec_") || len(hooks()) != 1 {
		t.Fatalf("form sent twice: %d, %d webhooks", code, len(hooks()))
	}
	if _, body, _ := c.get("/ui/webhooks"); strings.Contains(body, secret) || !strings.Contains(body, id) {
		t.Fatal("the secret is shown again, or the endpoint is not listed")
	}

	// Replace: the form is filled in; an empty secret keeps the secret; a bad URL changes nothing.
	if code, body, _ := c.get("/ui/webhooks?edit=" + id); code != 200 || !strings.Contains(body, `value="https://hooks.example.test/cc"`) ||
		!strings.Contains(body, `value="balance_low" checked`) || !strings.Contains(body, `name="id" value="`+id+`"`) {
		t.Fatalf("edit form: %d\n%s", code, body)
	}
	if code, body, _ := c.post("/ui/webhooks", url.Values{"id": {id}, "url": {"mailto:x@example.test"}}); code != 422 || !strings.Contains(body, `id="url-err"`) {
		t.Fatalf("replace with a bad URL: %d", code)
	}
	if w := hooks()[id]; w.URL != "https://hooks.example.test/cc" || len(w.Events) != 2 {
		t.Fatalf("a refused replace changed the webhook: %+v", w)
	}
	if code, body, _ := c.post("/ui/webhooks", url.Values{"id": {id}, "url": {"http://10.0.0.7/hook"}}); code != 200 || !strings.Contains(body, "Webhook "+id+" saved.") {
		t.Fatalf("replace: %d\n%s", code, body)
	}
	if w := hooks()[id]; w.URL != "http://10.0.0.7/hook" || w.Events != nil || w.Secret != secret {
		t.Fatalf("replaced: %+v", w)
	}

	// A reports reader may neither see nor change webhooks; a forged token changes nothing.
	r := h.client(nil)
	r.signIn("reader@acme.test")
	r.get("/ui/reports/pools")
	if code, _, _ := r.get("/ui/webhooks"); code != 403 {
		t.Fatalf("reader sees webhooks: %d", code)
	}
	for _, p := range []string{"/ui/webhooks", "/ui/webhooks/delete"} {
		if code, _, _ := r.post(p, url.Values{"id": {id}, "url": {"https://evil.example.test/"}}); code != 403 {
			t.Fatalf("reader POST %s: %d", p, code)
		}
	}
	if code, _, _ := c.post("/ui/webhooks/delete", url.Values{"id": {id}, "csrf": {"forged"}}); code != 403 {
		t.Fatalf("forged token: %d", code)
	}
	if w := hooks()[id]; w == nil || w.URL != "http://10.0.0.7/hook" {
		t.Fatalf("a refused request changed the webhook: %+v", w)
	}

	// Delete; an unknown id is refused on the page.
	if code, body, _ := c.post("/ui/webhooks/delete", url.Values{"id": {id}}); code != 200 || !strings.Contains(body, "Webhook "+id+" deleted.") || len(hooks()) != 0 {
		t.Fatalf("delete: %d, %d left", code, len(hooks()))
	}
	if code, body, _ := c.post("/ui/webhooks/delete", url.Values{"id": {id}}); code != 422 || !strings.Contains(body, "no webhook") {
		t.Fatalf("delete again: %d\n%s", code, body)
	}

	// An admin-given secret is used as is and not shown back.
	if code, body, _ := c.post("/ui/webhooks", url.Values{"url": {"https://hooks.example.test/2"}, "secret": {"my-own-secret-0123456789"}}); code != 200 || strings.Contains(body, "my-own-secret") {
		t.Fatalf("create with a secret: %d", code)
	}
	for _, w := range hooks() {
		if w.Secret != "my-own-secret-0123456789" {
			t.Fatalf("secret %q", w.Secret)
		}
	}
}
