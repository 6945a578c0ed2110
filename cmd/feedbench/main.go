// Command feedbench measures one stockfeed instance on this machine: the
// memory an idle event stream costs, and the delivery lag of stock changes
// to many viewers under a steady rate of changes. It starts the stockfeed
// binary it is given as a child process on a loopback port, drives it
// through NATS and real SSE connections, prints a Markdown report and
// stops by itself; the child is killed whatever happens.
//
// "feedbench transport" compares what an idle stream costs on net/http and
// on Fiber (fasthttp), the measurement behind the feed's choice of net/http.
//
//	feedbench -feed-bin bin/stockfeed [-clients 10000] [-rate 100] [-duration 30s] [-out report.md]
//	feedbench transport [-clients 5000] [-out transport.md]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// errMissed is returned when the run completed but failed a check or missed
// a target; the report says which.
var errMissed = errors.New("feedbench: run failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "feedbench:", err)
		os.Exit(2)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "feedbench: interrupted; whatever it started is stopped")
		os.Exit(1)
	case errors.Is(err, errMissed):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "feedbench:", err)
		os.Exit(1)
	}
}

// errUsage marks a bad command line (exit status 2).
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string) error {
	cmd := "feed"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "feed", "run":
		return runFeed(ctx, args)
	case "transport":
		return runTransport(ctx, args)
	case transportServerCmd:
		// The child side of "transport": not meant to be run by hand.
		return runTransportServer(ctx, args)
	default:
		return fmt.Errorf("%w: unknown command %q (want feed or transport)", errUsage, cmd)
	}
}
