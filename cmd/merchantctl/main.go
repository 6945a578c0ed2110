// Command merchantctl is the merchant CLI of the live-commerce origin:
// product uploads, restocks, reports and lives over the admin API. See
// `merchantctl --help`; the work is done in package cli.
package main

import (
	"context"
	"os"

	"livecommerce/internal/program"
	"livecommerce/merchantctl/cli"
)

func main() {
	program.MainCode(func(ctx context.Context, args []string) int {
		return cli.Run(ctx, args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	})
}
