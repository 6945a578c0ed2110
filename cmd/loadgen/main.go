// Command loadgen plays a live sale against the whole system and proves
// (or disproves) the performance targets: viewers reading stock through
// the edge and straight from the origins, live pages holding event
// streams, and buyers purchasing, all on an open-loop schedule. After the
// load it checks the invariants against the database of record and Redis,
// runs the same load against two baselines (a naive MySQL-only origin and
// a static JSON server), and writes a report folder.
//
//	loadgen run [--step] [flags]    play the standard scenario, or search for capacity
//	loadgen naive-origin [flags]    serve the naive baseline's purchase API
//	loadgen static-json [flags]     serve the same stock JSON from memory
//	loadgen reset [flags]           drop the bench database and Redis keys
//
// scripts/bench.sh (make bench) starts everything and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"livecommerce/internal/applog"
)

const usage = `usage: loadgen <command> [flags]

commands:
  run [--step]     play the standard scenario against a running system (or, with
                   --step, raise the purchase rate until p99 breaks), check the
                   invariants, run the baselines and write the report folder;
                   exit status 0 when every check passed, 1 when one failed
  naive-origin     serve the naive baseline: one MySQL transaction per purchase
  static-json      serve stock JSON from memory: the ceiling for reads
  reset            drop the bench database and delete the bench's Redis keys

Every setting is a flag and an environment variable; see "loadgen run -h".
make bench (scripts/bench.sh) starts the system and runs loadgen run.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// The first signal asks for a clean stop (the report of what ran is
	// still written); a second one kills, as usual.
	context.AfterFunc(ctx, stop)
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Getenv)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
	}
	os.Exit(code)
}

// run returns the exit status: 0 when everything passed, 1 when a check
// failed or the run could not finish, 2 on wrong usage.
func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) (int, error) {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return 2, nil
	}
	switch args[0] {
	case "run":
		cfg, err := LoadRun(args[1:], getenv)
		if err != nil {
			return 2, err
		}
		log := applog.New(getenv("LOG_LEVEL"))
		if cfg.CPUProfile != "" {
			stop, err := profileCPU(cfg.CPUProfile)
			if err != nil {
				return 1, err
			}
			defer stop()
		}
		o, err := runLoad(ctx, cfg, log)
		if o != nil && (len(o.phases) > 0 || len(o.steps) > 0) {
			md, werr := writeReport(o, cfg.OutDir)
			if werr != nil {
				return 1, errors.Join(err, werr)
			}
			fmt.Fprint(out, md)
			fmt.Fprintf(out, "\nreport: %s\n", cfg.OutDir)
		}
		if err != nil {
			return 1, err
		}
		if !o.Pass() {
			return 1, errors.New("FAIL: see the verdict")
		}
		fmt.Fprintln(out, "PASS")
		return 0, nil
	case "naive-origin":
		return serveCommand(ctx, args[1:], getenv, serveNaive)
	case "static-json":
		return serveCommand(ctx, args[1:], getenv, serveStatic)
	case "reset":
		if err := reset(ctx, args[1:], out, getenv); err != nil {
			return exitFor(err), err
		}
		return 0, nil
	case "-h", "--help", "help":
		fmt.Fprint(out, usage)
		return 0, nil
	}
	fmt.Fprint(out, usage)
	return 2, fmt.Errorf("unknown command %q", args[0])
}

// profileCPU profiles the tool itself: on a machine it shares with what
// it measures, its own cost is part of every figure.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// usageError marks errors that are the caller's: exit status 2.
type usageError struct{ error }

func exitFor(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func serveCommand(ctx context.Context, args []string, getenv func(string) string, serve func(context.Context, []string, func(string) string) error) (int, error) {
	if err := serve(ctx, args, getenv); err != nil {
		return exitFor(err), err
	}
	return 0, nil
}
