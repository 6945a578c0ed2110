// Command edge-invalidator purges the edge cache (the local Varnish edge,
// or Cloudflare) by cache tag when a product's stock status changes,
// reading the origin's events from the STOCK JetStream stream.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"livecommerce/edge-invalidator/app"
	"livecommerce/internal/applog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := app.Load(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge-invalidator: bad settings:", err)
		os.Exit(2)
	}
	if err := app.Run(ctx, cfg, applog.New(cfg.LogLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "edge-invalidator:", err)
		os.Exit(1)
	}
}
