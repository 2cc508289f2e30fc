// Command mongotide is the CLI of the mongotide toolkit: a live demo, an
// embedded MongoDB-compatible server, a change-stream tail, benchmarks and the
// sync operations. Run `mongotide help` for the list.
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
