// Command stockfeed pushes live stock to live pages as server-sent events,
// fed by the origin's stock events through the STOCK JetStream stream.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"livecommerce/internal/applog"
	"livecommerce/stockfeed/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "stockfeed:", err)
		// 2 is for settings a person must fix; 1 for a failure while running.
		if errors.Is(err, errSettings) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errSettings = errors.New("bad settings")

func run(ctx context.Context, args []string) error {
	// "stockfeed serve" reads like "origin serve"; serving is all it does.
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	cfg, err := app.Load(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %w", errSettings, err)
	}
	log := applog.New(cfg.LogLevel)
	srv, err := app.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-srv.Done():
		if err != nil {
			log.Error("server stopped", slog.Any("error", err))
		}
	}
	log.Info("shutting down")
	return srv.Shutdown(context.Background())
}
