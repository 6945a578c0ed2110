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
// The work is done by the packages under loadtest/ (loadtest/loadrun runs
// a load test); this is their command line. scripts/bench.sh (make bench)
// starts everything and runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"livecommerce/internal/applog"
	"livecommerce/internal/program"
	"livecommerce/loadtest/benchreset"
	"livecommerce/loadtest/cpuprofile"
	"livecommerce/loadtest/loadreport"
	"livecommerce/loadtest/loadrun"
	"livecommerce/loadtest/naiveorigin"
	"livecommerce/loadtest/scenario"
	"livecommerce/loadtest/staticjson"
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

Exit status: 0 done, 1 the work failed, 2 wrong usage or settings.
Every setting is a flag and an environment variable; see "loadgen run -h".
make bench (scripts/bench.sh) starts the system and runs loadgen run.
`

func main() {
	program.MainCode(func(ctx context.Context, args []string) int {
		// The first signal asks for a clean stop (the report of what ran
		// is still written); a second one kills, as usual.
		context.AfterFunc(ctx, func() { signal.Reset(os.Interrupt, syscall.SIGTERM) })
		code, err := run(ctx, args, os.Stdout, os.Getenv)
		if code != program.OK && err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
		}
		return code
	})
}

// run runs one command and returns its exit status (internal/program).
func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) (int, error) {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return program.BadUsage, nil
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		return runLoad(ctx, args, out, getenv)
	case "naive-origin":
		var cfg naiveorigin.ServerConfig
		if cfg, err = naiveorigin.LoadServerConfig(args, getenv); err == nil {
			err = naiveorigin.Serve(ctx, cfg, applog.New(cfg.LogLevel))
		}
	case "static-json":
		var cfg staticjson.Config
		if cfg, err = staticjson.Load(args, getenv); err == nil {
			err = staticjson.Serve(ctx, cfg)
		}
	case "reset":
		var cfg benchreset.Config
		if cfg, err = benchreset.Load(args, getenv); err == nil {
			err = benchreset.Run(ctx, cfg, out)
		}
	case "-h", "--help", "help":
		fmt.Fprint(out, usage)
	default:
		fmt.Fprint(out, usage)
		err = program.Usage(fmt.Errorf("unknown command %q", cmd))
	}
	return program.Code(err), err
}

// runLoad is `loadgen run`: the load test, its report folder (also of a
// run that stopped early), and PASS or FAIL.
func runLoad(ctx context.Context, args []string, out io.Writer, getenv func(string) string) (int, error) {
	cfg, err := scenario.Load(args, getenv)
	if err != nil {
		return program.Code(err), err
	}
	stopProfile, err := cpuprofile.Start(cfg.CPUProfile)
	if err != nil {
		return program.Failed, err
	}
	defer stopProfile()
	o, err := loadrun.Run(ctx, cfg, applog.New(getenv("LOG_LEVEL")))
	if o != nil && o.Measured() {
		md, werr := loadreport.Write(o, cfg.OutDir)
		if werr != nil {
			return program.Failed, errors.Join(err, werr)
		}
		fmt.Fprint(out, md)
		fmt.Fprintf(out, "\nreport: %s\n", cfg.OutDir)
	}
	if err != nil {
		return program.Failed, err
	}
	if !o.Pass() {
		return program.Failed, errors.New("FAIL: see the verdict")
	}
	fmt.Fprintln(out, "PASS")
	return program.OK, nil
}
