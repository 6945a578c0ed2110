package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"livecommerce/cdn-config/localedge"
	"livecommerce/internal/envflag"
)

// runEdge is `cdn-config edge`: the local edge (Varnish) in the
// foreground until ctx ends, or its VCL on stdout with --print-vcl.
func runEdge(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var (
		c              localedge.Config
		origins, feeds string
		printVCL       bool
		probe          time.Duration
	)
	fs := flag.NewFlagSet("cdn-config edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := envflag.New(fs, getenv)
	s.String(&c.Addr, "addr", "EDGE_ADDR", "127.0.0.1:8000", "public listener of the edge (browsers and viewers)")
	s.String(&c.PurgeAddr, "purge-addr", "EDGE_PURGE_ADDR", "127.0.0.1:8001", "purge listener (PURGE with an xkey header; loopback callers only)")
	s.String(&origins, "origins", "EDGE_ORIGINS", "127.0.0.1:8080", "origin instances, host:port, comma-separated")
	s.String(&feeds, "feeds", "EDGE_FEEDS", "127.0.0.1:8081", "stockfeed instances, host:port, comma-separated")
	s.String(&c.WorkDir, "work-dir", "EDGE_WORK_DIR", filepath.Join(os.TempDir(), "livecommerce-edge"), "varnishd's working folder")
	s.String(&c.CacheSize, "cache-size", "EDGE_CACHE_SIZE", "256m", "memory for cached answers (k, m or g)")
	s.Duration(&probe, "probe-interval", "EDGE_PROBE_INTERVAL", time.Second, "how often each backend's /readyz is probed")
	s.String(&c.Varnishd, "varnishd", "VARNISHD", "", "path of varnishd (default: PATH, then /usr/sbin)")
	fs.BoolVar(&printVCL, "print-vcl", false, "print the VCL and exit")
	if err := s.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "cdn-config edge:", err)
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cdn-config edge: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	c.Origins, c.Feeds, c.ProbeInterval = splitList(origins), splitList(feeds), probe
	var errs []error
	for _, set := range []struct {
		name   string
		addrs  []string
		listen bool
	}{
		{"EDGE_ADDR/--addr", []string{c.Addr}, true},
		{"EDGE_PURGE_ADDR/--purge-addr", []string{c.PurgeAddr}, true},
		{"EDGE_ORIGINS/--origins", c.Origins, false},
		{"EDGE_FEEDS/--feeds", c.Feeds, false},
	} {
		for _, a := range set.addrs {
			if err := localedge.CheckAddr(a, set.listen); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", set.name, err))
			}
		}
	}
	if len(c.Origins) == 0 {
		errs = append(errs, errors.New("EDGE_ORIGINS/--origins: at least one origin is needed"))
	}
	if strings.TrimSpace(c.WorkDir) == "" || strings.ContainsAny(c.WorkDir, "\x00\n") {
		errs = append(errs, errors.New("EDGE_WORK_DIR/--work-dir: a folder path is needed"))
	}
	if c.Varnishd != "" {
		if st, err := os.Stat(c.Varnishd); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("VARNISHD/--varnishd: %.80q is not an executable file", c.Varnishd))
		}
	}
	if c.CacheSize != "" && !localedge.ValidCacheSize(c.CacheSize) {
		errs = append(errs, fmt.Errorf("EDGE_CACHE_SIZE/--cache-size: %.20q is not a number with k, m or g, e.g. 256m", c.CacheSize))
	}
	if !localedge.ValidProbeInterval(probe) {
		errs = append(errs, fmt.Errorf("EDGE_PROBE_INTERVAL/--probe-interval: %v is not in [%v, %v]", probe, localedge.MinProbeInterval, localedge.MaxProbeInterval))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(stderr, "cdn-config edge:", err)
		return exitConfig
	}
	vcl, err := localedge.RenderVCL(c)
	if err != nil {
		// What is left to refuse: the length of the lists.
		fmt.Fprintln(stderr, "cdn-config edge: EDGE_ORIGINS/EDGE_FEEDS:", err)
		return exitConfig
	}
	if printVCL {
		_, _ = stdout.Write(vcl)
		return 0
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	e, err := localedge.Start(ctx, c, stderr)
	if err != nil {
		log.Error("local edge did not start", slog.Any("error", err))
		return exitAPI
	}
	log.Info("local edge ready", slog.String("url", e.URL()), slog.String("purge_url", e.PurgeURL()),
		slog.Any("origins", c.Origins), slog.Any("feeds", c.Feeds))
	select {
	case <-ctx.Done():
		if err := e.Stop(10 * time.Second); err != nil {
			log.Error("local edge stop", slog.Any("error", err))
			return exitAPI
		}
		log.Info("local edge stopped")
		return 0
	case <-e.Done():
		log.Error("varnishd exited on its own")
		return exitAPI
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
