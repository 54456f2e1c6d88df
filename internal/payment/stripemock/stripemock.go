// Package stripemock runs a real stripe-mock process for tests of code that talks to the
// Stripe API. stripe-mock validates requests against Stripe's OpenAPI spec and answers with
// fixtures; it is stateless and cannot simulate declines.
package stripemock

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Version is the stripe-mock release the tests are written against.
const Version = "v0.203.0"

// Module is what `go install` fetches when no binary is found.
const Module = "github.com/stripe/stripe-mock@" + Version

// Start runs stripe-mock on two free loopback ports (HTTP and HTTPS, so it never listens on
// other interfaces), waits until it answers and stops it when the test ends. It returns the
// HTTP base URL, e.g. "http://127.0.0.1:41234".
//
// The binary is $STRIPE_MOCK_BIN, else stripe-mock on $PATH, else $GOBIN or $GOPATH/bin;
// failing all, it is installed with `go install` (the only step that needs the network:
// CI should install it up front).
func Start(t testing.TB) string {
	t.Helper()
	bin := find(t)
	var lastErr error
	for range 3 { // a free port may be taken between probing and binding
		url, stop, err := start(bin)
		if err == nil {
			t.Cleanup(stop)
			return url
		}
		lastErr = err
	}
	t.Fatalf("stripemock: %v", lastErr)
	return ""
}

func find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("STRIPE_MOCK_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	gobin := goBinDir()
	if p := filepath.Join(gobin, "stripe-mock"); isFile(p) {
		return p
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("stripemock: stripe-mock not found and no go tool to install it: %v", err)
	}
	t.Logf("stripemock: installing %s into %s", Module, gobin)
	cmd := exec.Command(goTool, "install", Module)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stripemock: go install %s: %v\n%s", Module, err, out)
	}
	return filepath.Join(gobin, "stripe-mock")
}

func goBinDir() string {
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) >= 1 && strings.TrimSpace(lines[0]) != "" {
			return strings.TrimSpace(lines[0])
		}
		if len(lines) >= 2 {
			gopath := strings.SplitN(strings.TrimSpace(lines[1]), string(os.PathListSeparator), 2)[0]
			return filepath.Join(gopath, "bin")
		}
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go", "bin")
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func start(bin string) (string, func(), error) {
	httpPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	httpsPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	var out bytes.Buffer
	cmd := exec.Command(bin,
		"-http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"-https-addr", fmt.Sprintf("127.0.0.1:%d", httpsPort))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if ready(ctx, url) {
			return url, stop, nil
		}
		select {
		case err := <-exited:
			return "", nil, fmt.Errorf("stripe-mock exited: %v\n%s", err, out.String())
		case <-ctx.Done():
			stop()
			return "", nil, fmt.Errorf("stripe-mock not ready on %s after 20s\n%s", url, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ready(ctx context.Context, url string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/customers", nil)
	req.SetBasicAuth("sk_test_ready", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
