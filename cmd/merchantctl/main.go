// Command merchantctl is the merchant CLI of the live-commerce origin:
// product uploads, restocks, reports and lives over the admin API. See
// `merchantctl --help`; the work is done in package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"livecommerce/merchantctl/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
