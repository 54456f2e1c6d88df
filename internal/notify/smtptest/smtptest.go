// Package smtptest is an in-process SMTP server on loopback for tests: it keeps every
// message it receives, and can be stopped and started again on the same port so a test
// can watch mail being retried while the server is down.
package smtptest

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one received email: the envelope and the raw data.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Inbox is an SMTP server on 127.0.0.1:Port. Its address stays the same across Stop and
// Restart.
type Inbox struct {
	Host string
	Port int
	Addr string // Host:Port

	t          testing.TB
	user, pass string

	mu   sync.Mutex
	msgs []Message
	srv  *smtp.Server
}

// Option changes how the server behaves.
type Option func(*Inbox)

// Auth makes the server require PLAIN authentication with user and pass before it
// accepts mail (over plain TCP: it is on loopback).
func Auth(user, pass string) Option {
	return func(in *Inbox) { in.user, in.pass = user, pass }
}

// Start serves an inbox on a free loopback port until the test ends.
func Start(t testing.TB, opts ...Option) *Inbox {
	t.Helper()
	in := Reserve(t, opts...)
	in.Restart()
	return in
}

// Reserve picks a free loopback port for an inbox without listening on it, so mail sent
// there fails as it does to a server that is down; Restart brings the server up.
func Reserve(t testing.TB, opts ...Option) *Inbox {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	in := &Inbox{Host: "127.0.0.1", Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), t: t}
	for _, o := range opts {
		o(in)
	}
	t.Cleanup(in.Stop)
	return in
}

// Restart listens on the inbox's port again (after Reserve or Stop). Messages received
// before are kept.
func (in *Inbox) Restart() {
	in.t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.srv != nil {
		return
	}
	l, err := net.Listen("tcp", in.Addr)
	if err != nil {
		in.t.Fatal(err)
	}
	srv := smtp.NewServer(backend{in})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	srv.AllowInsecureAuth = in.user != ""
	go srv.Serve(l)
	in.srv = srv
}

// Stop closes the server and its connections; the port then refuses connections.
func (in *Inbox) Stop() {
	in.mu.Lock()
	srv := in.srv
	in.srv = nil
	in.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Messages returns a copy of what has been received so far, in order.
func (in *Inbox) Messages() []Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Message(nil), in.msgs...)
}

// Texts returns the raw data of the messages received so far, as strings.
func (in *Inbox) Texts() []string {
	msgs := in.Messages()
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Data)
	}
	return out
}

type backend struct{ in *Inbox }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	if b.in.user != "" {
		return &authSession{session: session{in: b.in}}, nil
	}
	return &session{in: b.in}, nil
}

type session struct {
	in   *Inbox
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.in.mu.Lock()
	s.in.msgs = append(s.in.msgs, Message{From: s.from, To: append([]string(nil), s.to...), Data: b})
	s.in.mu.Unlock()
	return nil
}

// authSession refuses mail until the client has authenticated.
type authSession struct {
	session
	authed bool
}

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.in.user || pass != s.in.pass {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *authSession) Mail(from string, opts *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return s.session.Mail(from, opts)
}
