package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a throwaway PostgreSQL cluster: a data directory and a unix
// socket directory under one temporary directory, a postmaster listening on
// the socket only, durability switched off (it is deleted afterwards).
type cluster struct {
	dir  string
	dsn  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster has exited
	log  *os.File
}

// findBinDir returns the directory holding initdb and postgres.
func findBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/lib/postgresql/15/bin/initdb")
	globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Sort(sort.Reverse(sort.StringSlice(globbed)))
	candidates = append(candidates, globbed...)
	for _, c := range candidates {
		real, err := filepath.EvalSymlinks(c)
		if err != nil {
			continue
		}
		dir := filepath.Dir(real)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("initdb not found in PATH or /usr/lib/postgresql/*/bin")
}

func startCluster(ctx context.Context, bin string) (_ *cluster, err error) {
	dir, err := os.MkdirTemp("", "commcredits-pgtest-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return nil, err
	}

	// initdb and postgres refuse to run as root: run them as "postgres".
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no \"postgres\" user to run the cluster as: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, p := range []string{dir, sock} {
			if err := os.Chown(p, int(uid), int(gid)); err != nil {
				return nil, err
			}
		}
	}

	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, log: logf, done: make(chan struct{})}
	defer func() {
		if err != nil {
			logf.Close()
		}
	}()

	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	pg := exec.Command(filepath.Join(bin, "postgres"),
		"-D", data,
		"-k", sock,
		"-c", "listen_addresses=",
		"-c", "max_connections=200",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
	)
	pg.Dir = dir
	pg.Stdout, pg.Stderr = logf, logf
	// If the test process dies without reaching Main's cleanup (a test
	// timeout, a kill), the postmaster gets SIGINT (fast shutdown) instead
	// of outliving it.
	pg.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT, Setpgid: true}
	if err := pg.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = pg
	go func() { _ = pg.Wait(); close(c.done) }()

	c.dsn = "postgres://postgres@/postgres?host=" + url.QueryEscape(sock) + "&sslmode=disable"
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, cerr := pgx.Connect(ctx, c.dsn)
		if cerr == nil {
			conn.Close(ctx)
			return c, nil
		}
		select {
		case <-c.done:
			logb, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("postgres exited during start-up: %v\n%s", cerr, logb)
		case <-ctx.Done():
			_ = c.stop()
			return nil, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.stop()
			return nil, fmt.Errorf("postgres did not accept connections within 30s: %v", cerr)
		}
	}
}

// stop shuts the postmaster down (fast, then immediate, then kill) and
// deletes the cluster's directory.
func (c *cluster) stop() error {
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
	signals:
		for _, step := range []struct {
			sig  syscall.Signal
			wait time.Duration
		}{{syscall.SIGINT, 15 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, 5 * time.Second}} {
			_ = c.cmd.Process.Signal(step.sig)
			select {
			case <-c.done:
				break signals
			case <-time.After(step.wait):
			}
		}
		select {
		case <-c.done:
		default:
			errs = append(errs, fmt.Errorf("postgres (pid %d) did not exit", c.cmd.Process.Pid))
		}
	}
	if c.log != nil {
		c.log.Close()
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}
