// Command feedbench measures one stockfeed instance on this machine: the
// memory an idle event stream costs, and the delivery lag of stock changes
// to many viewers under a steady rate of changes. It starts the stockfeed
// binary it is given as a child process on a loopback port, drives it
// through NATS and real SSE connections, prints a Markdown report and
// stops by itself; the child is stopped whatever happens.
//
// "feedbench transport" compares what an idle stream costs on net/http and
// on Fiber (fasthttp), the measurement behind the feed's choice of net/http.
//
//	feedbench -feed-bin bin/stockfeed [-clients 10000] [-rate 100] [-duration 30s] [-out report.md]
//	feedbench transport [-clients 5000] [-out transport.md]
//
// The work is done by loadtest/feedbench and the packages under it; this
// is their command line. Exit status: 0 done (and every check passed), 1
// the run failed a check, missed a target or did not complete, 2 wrong
// usage. scripts/bench-feed.sh (make bench-feed) runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"livecommerce/internal/program"
	"livecommerce/loadtest/feedbench"
	"livecommerce/loadtest/feedbench/transport"
)

func main() {
	program.MainCode(func(ctx context.Context, args []string) int {
		// The first signal stops the run in order (the stockfeed it
		// started included); a second one kills, as usual.
		context.AfterFunc(ctx, func() { signal.Reset(os.Interrupt, syscall.SIGTERM) })
		err := run(ctx, args, os.Stdout, os.Stderr, os.Getenv)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "feedbench: interrupted; whatever it started is stopped")
			return program.Failed
		}
		return program.Report(os.Stderr, "feedbench", err)
	})
}

// run runs one command: a feed run (the default), "transport", or the
// transport's hidden server.
func run(ctx context.Context, args []string, out, progress io.Writer, getenv func(string) string) error {
	cmd := "feed"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "feed", "run":
		cfg, err := feedbench.Load(args, getenv)
		if err != nil {
			return err
		}
		res, err := feedbench.Run(ctx, cfg, progress)
		if err != nil {
			return err
		}
		if err := report(out, cfg.Out, res.Markdown()); err != nil {
			return err
		}
		if fails := res.Failures(); len(fails) > 0 {
			return fmt.Errorf("run failed: %s", strings.Join(fails, "; "))
		}
		return nil
	case "transport":
		cfg, err := transport.Load(args)
		if err != nil {
			return err
		}
		md, err := transport.Run(ctx, cfg, progress)
		if err != nil {
			return err
		}
		return report(out, cfg.Out, md)
	case transport.ServerCommand:
		// The child side of "transport": not meant to be run by hand.
		return transport.Serve(ctx, args, out)
	}
	return program.Usage(fmt.Errorf("unknown command %q (want feed or transport)", cmd))
}

// report prints the Markdown report and, if file is not empty, writes it
// there too.
func report(out io.Writer, file, md string) error {
	fmt.Fprint(out, md)
	if file == "" {
		return nil
	}
	if err := os.WriteFile(file, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
