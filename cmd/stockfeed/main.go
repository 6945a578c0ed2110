// Command stockfeed pushes live stock to live pages as server-sent events,
// fed by the origin's stock events through the STOCK JetStream stream.
package main

import (
	"context"
	"log/slog"
	"os"

	"livecommerce/internal/applog"
	"livecommerce/internal/program"
	"livecommerce/stockfeed/app"
)

func main() { program.Main("stockfeed", run) }

func run(ctx context.Context, args []string) error {
	// "stockfeed serve" reads like "origin serve"; serving is all it does.
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	cfg, err := app.Load(args, os.Getenv)
	if err != nil {
		return program.Usage(err)
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
