// Command cdn-config keeps the Cloudflare Cache Rules of the stock
// endpoints as code: `cdn-config plan` shows what would change in the zone,
// `cdn-config apply` writes it when something differs. `cdn-config edge`
// runs the local edge that stands in for Cloudflare on a developer machine.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"livecommerce/cdn-config/cacherules"
	"livecommerce/internal/envflag"
	"livecommerce/internal/program"
)

const usage = `usage: cdn-config <command> [flags]

commands:
  plan     read the zone's Cache Rules and print what apply would change
  apply    write the Cache Rules when they differ (--dry-run: plan only)
  rules    print the rules this tool owns as JSON
  edge     run the local edge (Varnish) in front of the origins and the
           stockfeed, as in production (--print-vcl: show its VCL)

The API token is read from CLOUDFLARE_API_TOKEN only, never from a flag, so
it stays out of shell history and process lists. See "cdn-config plan -h".
`

// Exit codes (the convention of package program): 1 when the API fails,
// 2 when the command or a setting is wrong (nothing was sent).
const (
	exitAPI    = program.Failed
	exitConfig = program.BadUsage
)

func main() {
	program.MainCode(func(ctx context.Context, args []string) int {
		return run(ctx, args, os.Stdout, os.Stderr, os.Getenv)
	})
}

type config struct {
	dryRun  bool
	timeout time.Duration
	api     cacherules.Config
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "cdn-config: no command given")
		return exitConfig
	}
	cmd := args[0]
	switch cmd {
	case "plan", "apply":
	case "edge":
		return runEdge(ctx, args[1:], stdout, stderr, getenv)
	case "rules":
		b, err := cacherules.DesiredJSON()
		if err != nil {
			fmt.Fprintln(stderr, "cdn-config:", err)
			return exitAPI
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprint(stderr, usage)
		fmt.Fprintf(stderr, "cdn-config: unknown command %q\n", cmd)
		return exitConfig
	}
	c, err := parse(cmd, args[1:], stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "cdn-config:", err)
		return exitConfig
	}
	client, err := cacherules.New(c.api)
	if err != nil {
		fmt.Fprintln(stderr, "cdn-config:", err)
		return exitConfig
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := reconcile(ctx, client, c.dryRun || cmd == "plan", c.api.ZoneID, stdout); err != nil {
		fmt.Fprintln(stderr, "cdn-config:", err)
		return exitAPI
	}
	return 0
}

// parse builds the settings from flags and environment and names the
// setting that is missing or wrong.
func parse(cmd string, args []string, stderr io.Writer, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("cdn-config "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := envflag.New(fs, getenv)
	s.String(&c.api.ZoneID, "zone-id", "CLOUDFLARE_ZONE_ID", "", "Cloudflare zone id (32 hex characters)")
	s.String(&c.api.APIURL, "api-url", "CLOUDFLARE_API_URL", cacherules.DefaultAPIURL, "Cloudflare API base URL")
	s.Bool(&c.dryRun, "dry-run", "CDN_CONFIG_DRY_RUN", false, "print the plan and change nothing")
	s.Duration(&c.timeout, "timeout", "CDN_CONFIG_TIMEOUT", time.Minute, "time allowed for the whole run")
	s.Int(&c.api.Retries, "retries", "CDN_CONFIG_RETRIES", 3, "retries of a request answered 429 or 5xx")
	if err := s.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.api.Token = getenv("CLOUDFLARE_API_TOKEN")
	c.api.RetryDelay = time.Second
	if c.api.Token == "" {
		return c, errors.New("CLOUDFLARE_API_TOKEN is not set")
	}
	if err := cacherules.CheckToken(c.api.Token); err != nil {
		return c, fmt.Errorf("CLOUDFLARE_API_TOKEN: %w", err)
	}
	if c.api.ZoneID == "" {
		return c, errors.New("CLOUDFLARE_ZONE_ID (or --zone-id) is not set")
	}
	if err := cacherules.CheckZoneID(c.api.ZoneID); err != nil {
		return c, fmt.Errorf("CLOUDFLARE_ZONE_ID/--zone-id: %w", err)
	}
	if _, err := cacherules.CheckAPIURL(c.api.APIURL); err != nil {
		return c, fmt.Errorf("CLOUDFLARE_API_URL/--api-url: %w", err)
	}
	if c.timeout <= 0 {
		return c, errors.New("CDN_CONFIG_TIMEOUT/--timeout must be positive")
	}
	if c.api.Retries < 0 {
		return c, errors.New("CDN_CONFIG_RETRIES/--retries cannot be negative")
	}
	return c, nil
}

// ruleset is what reconcile needs from the API.
type ruleset interface {
	Entrypoint(ctx context.Context) (cacherules.Ruleset, error)
	Write(ctx context.Context, name, description string, rules []json.RawMessage) (cacherules.Ruleset, error)
}

func reconcile(ctx context.Context, api ruleset, dryRun bool, zoneID string, out io.Writer) error {
	current, err := api.Entrypoint(ctx)
	if err != nil {
		return err
	}
	plan, err := cacherules.MakePlan(current, cacherules.Desired())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "zone %s, phase %s", zoneID, cacherules.Phase)
	if !current.Exists {
		fmt.Fprint(out, " (no ruleset yet)")
	}
	fmt.Fprintln(out, ":")
	if err := plan.Write(out); err != nil {
		return err
	}
	if plan.Empty() {
		return nil
	}
	if dryRun {
		fmt.Fprintln(out, "dry run: nothing written")
		return nil
	}
	if _, err := api.Write(ctx, current.Name, current.Description, plan.Rules); err != nil {
		return err
	}
	fmt.Fprintln(out, "applied")
	return nil
}
