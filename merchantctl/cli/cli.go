// Package cli is merchantctl: the commands a merchant runs against the
// origin's admin API. Run takes everything from outside (arguments,
// environment, standard streams) so tests drive it in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"livecommerce/internal/program"
	"livecommerce/merchantctl/adminclient"
)

// Exit statuses.
const (
	ExitOK       = 0
	ExitRejected = program.Failed   // the server or the file rejected the work, or the server was unreachable
	ExitUsage    = program.BadUsage // bad flags or settings
)

// Env is what a command may use from the outside world.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

type command struct {
	name, summary string
	help          string // usage, then examples
	run           func(ctx context.Context, e Env, args []string) error
}

func commands() []command {
	return []command{
		{"upload", "check a CSV or JSON product file and upsert it into a live", uploadHelp, runUpload},
		{"restock", "add or remove units of one sku", restockHelp, runRestock},
		{"report", "units sold, remaining and revenue per sku of a live", reportHelp, runReport},
		{"lives", "list your lives, newest first", livesHelp, runLives},
	}
}

const settingsHelp = `
Settings (flags beat the environment, which beats the config file):
  --origin URL      ORIGIN_URL          origin = URL      (default http://127.0.0.1:8000, the local edge;
                                                           https://, or http:// only to this machine)
  --key KEY         MERCHANT_API_KEY    key = KEY         (a config file holding it must be chmod 600)
  --timeout D       MERCHANTCTL_TIMEOUT timeout = D       (per request; default 60s)
  --config FILE     MERCHANTCTL_CONFIG                    (key = value lines, # comments; yours, and
                                                           writable by nobody else)

Redirects are not followed: the key goes only to ORIGIN_URL.

Exit status: 0 done, 1 the server or the file rejected the work (or the
server could not be reached), 2 wrong usage or bad settings.
`

func mainHelp() string {
	var b strings.Builder
	b.WriteString("merchantctl manages your lives and products on the live-commerce origin.\n\nUsage: merchantctl [settings] COMMAND [flags] [args]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun `merchantctl COMMAND --help` for a command's flags and examples.\n")
	b.WriteString(settingsHelp)
	return b.String()
}

// Run runs merchantctl with args (without the program name) and returns
// the exit status.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	// Connection settings may come before the command name too.
	var pre common
	fs := flag.NewFlagSet("merchantctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pre.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, mainHelp())
			return ExitOK
		}
		fmt.Fprintf(stderr, "merchantctl: %v\nRun `merchantctl --help` for usage.\n", err)
		return ExitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, mainHelp())
		return ExitUsage
	}
	name := rest[0]
	if name == "help" {
		if len(rest) > 1 {
			name, rest = rest[1], []string{rest[1], "--help"}
		} else {
			fmt.Fprint(stdout, mainHelp())
			return ExitOK
		}
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, withPre(pre, rest[1:]))
		return exitCode(e, c, err)
	}
	fmt.Fprintf(stderr, "merchantctl: unknown command %s\nRun `merchantctl --help` for the commands.\n", shown(name))
	return ExitUsage
}

// withPre turns settings given before the command into flags after it;
// the command's own flags, parsed later, win.
func withPre(pre common, args []string) []string {
	var out []string
	for _, f := range []struct {
		name string
		o    optString
	}{{"origin", pre.origin}, {"key", pre.key}, {"config", pre.config}, {"timeout", pre.timeout}} {
		if f.o.set {
			out = append(out, "--"+f.name+"="+f.o.v)
		}
	}
	return append(out, args...)
}

// errHelp means --help was asked for and printed.
var errHelp = errors.New("help shown")

// rejected is work refused by the file or the server, already explained
// on stderr when msg is empty.
type rejected struct{ msg string }

func (r *rejected) Error() string { return r.msg }

// exitCode prints what went wrong, if anything, and picks the status.
func exitCode(e Env, c command, err error) int {
	var ue *usageError
	var rj *rejected
	switch {
	case err == nil || errors.Is(err, errHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.Stderr, "merchantctl %s: %s\nRun `merchantctl %s --help` for usage.\n", c.name, ue.msg, c.name)
		return ExitUsage
	case errors.As(err, &rj):
		if rj.msg != "" {
			fmt.Fprintf(e.Stderr, "merchantctl %s: %s\n", c.name, rj.msg)
		}
		return ExitRejected
	}
	fmt.Fprintf(e.Stderr, "merchantctl %s: %s\n", c.name, describe(err))
	return ExitRejected
}

// describe turns an admin API failure into a message for the merchant.
func describe(err error) string {
	var apiErr *adminclient.Error
	if !errors.As(err, &apiErr) {
		switch {
		case errors.Is(err, context.Canceled):
			return "interrupted"
		case errors.Is(err, adminclient.ErrNoAnswer):
			return "could not reach the origin: " + err.Error() + " (is it running? check ORIGIN_URL / --origin)"
		}
		return err.Error()
	}
	prefix := ""
	if errors.Is(err, adminclient.ErrGaveUp) {
		prefix = "gave up after retries: "
	}
	switch {
	case apiErr.Redirect():
		return apiErr.Error() + "; if the origin has moved, set ORIGIN_URL (or --origin) to the new address"
	case apiErr.Unauthorized():
		return "the origin refused the API key (401 unauthorized): it is wrong or has been revoked; check MERCHANT_API_KEY, --key or the config file, or ask your operator for a new key"
	case apiErr.Status == http.StatusNotFound:
		return prefix + "not found (404): no such live or sku for this merchant" + msgOf(apiErr)
	case apiErr.Code == "":
		return prefix + fmt.Sprintf("the server answered HTTP %d without an error body (is ORIGIN_URL an origin or the edge?)", apiErr.Status)
	}
	return prefix + fmt.Sprintf("%s (HTTP %d): %s", apiErr.Code, apiErr.Status, apiErr.Message)
}

func msgOf(e *adminclient.Error) string {
	if e.Message == "" || e.Message == "not found" {
		return ""
	}
	return ": " + e.Message
}

// parse parses a command's flags, which may come before or after its
// arguments, and returns the arguments; --help prints the command's help
// on stdout.
func parse(e Env, fs *flag.FlagSet, help string, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(e.Stdout, help)
				fmt.Fprint(e.Stdout, settingsHelp)
				return nil, errHelp
			}
			return nil, usagef("%v", err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// shown quotes what a user typed for an error message, briefly, and never
// an API key: a key pasted in the wrong place must not land on the screen
// or in a terminal log.
func shown(s string) string {
	if strings.Contains(s, "lck_") {
		return "(an API key; not shown)"
	}
	return fmt.Sprintf("%.24q", s)
}
