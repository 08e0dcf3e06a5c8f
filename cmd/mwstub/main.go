// Command mwstub stands in for a MediaWiki pod (web or jobrunner): it
// answers like MediaWiki on the routes pretrain-check probes and names the
// pod on every response. See package harness/stub, and mwstub --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Hostname, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: exit code 0 after a clean shutdown,
// 2 for bad flags or environment, 1 when serving fails.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool),
	hostname func() (string, error), stdout, stderr io.Writer) int {
	opts, err := stub.ParseOptions(args, lookupEnv, hostname)
	if errors.Is(err, flag.ErrHelp) {
		stub.PrintUsage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\nRun mwstub --help for usage.\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := stub.Listen(opts, log)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return 1
	}
	if err := srv.Serve(ctx); err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return 1
	}
	return 0
}
