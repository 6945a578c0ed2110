// Command edge-invalidator purges the edge cache (the local Varnish edge,
// or Cloudflare) by cache tag when a product's stock status changes,
// reading the origin's events from the STOCK JetStream stream.
package main

import (
	"context"
	"os"

	"livecommerce/edge-invalidator/app"
	"livecommerce/internal/applog"
	"livecommerce/internal/program"
)

func main() { program.Main("edge-invalidator", run) }

func run(ctx context.Context, args []string) error {
	cfg, err := app.Load(args, os.Getenv)
	if err != nil {
		return program.Usage(err)
	}
	return app.Run(ctx, cfg, applog.New(cfg.LogLevel))
}
