// Package program is what every command's main shares: one exit-code
// convention and one way to stop on a signal.
//
//	0  done (and -h)
//	1  the work failed (a dependency refused, a check failed)
//	2  bad usage or settings: nothing was done, fix the command line
//
// A main is then one line: program.Main("stockfeed", run).
package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// The exit codes.
const (
	OK       = 0
	Failed   = 1
	BadUsage = 2
)

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// Usage marks err as a mistake in the command line or the settings: the
// program exits 2. A nil err stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// Code is the exit code for err.
func Code(err error) int {
	var u usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return OK
	case errors.As(err, &u):
		return BadUsage
	}
	return Failed
}

// Main runs run with the program's arguments and a context that ends on
// SIGINT or SIGTERM (run then shuts down gracefully and returns), prints a
// failure as "name: error" on stderr, and exits with Code.
func Main(name string, run func(ctx context.Context, args []string) error) {
	MainCode(func(ctx context.Context, args []string) int {
		return Report(os.Stderr, name, run(ctx, args))
	})
}

// Report prints err (unless it is nil or a request for help, whose text
// the flag package printed already) and returns its exit code.
func Report(w io.Writer, name string, err error) int {
	code := Code(err)
	if code != OK {
		fmt.Fprintf(w, "%s: %v\n", name, err)
	}
	return code
}

// MainCode is Main for a program whose run reports its own errors and
// returns its exit code.
func MainCode(run func(ctx context.Context, args []string) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
