// Command commcredits is the Communications Credits engine.
//
//	commcredits serve   [--addr 127.0.0.1:8080] [--db sqlite:commcredits.db]
//	commcredits migrate [--db DSN]
//	commcredits version
//	commcredits help
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
