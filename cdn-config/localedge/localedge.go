// Package localedge runs the local edge cache that stands in for Cloudflare
// in development and tests: varnishd from Debian's varnish package, with
// vmod xkey from varnish-modules for purging by tag, configured by
// edge.vcl.tmpl to cache the stock reads the way the production edge does
// and to pass or pipe everything else to the origins and the stockfeed.
package localedge

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

//go:embed edge.vcl.tmpl
var vclTemplate string

var vcl = template.Must(template.New("edge.vcl").Parse(vclTemplate))

// Config describes one edge.
type Config struct {
	Addr      string   // public listener, host:port (port 0 picks one)
	PurgeAddr string   // purge listener, host:port; loopback callers only
	Origins   []string // host:port of every origin instance
	Feeds     []string // host:port of every stockfeed instance
	WorkDir   string   // varnishd's working folder (-n); the VCL is written there
	Varnishd  string   // path of varnishd; found on PATH or in /usr/sbin when empty
	CacheSize string   // memory for cached objects, e.g. "256m" (the default)
	// ProbeInterval is how often each backend's /readyz is probed (default
	// 1s); two failures out of three mark it sick.
	ProbeInterval time.Duration
}

const maxBackends = 64

// ErrInvalidConfig wraps every configuration error.
var ErrInvalidConfig = errors.New("localedge: invalid configuration")

type backend struct {
	Name, Host string
	Port       int
}

// hostPattern is what may stand in a VCL string: an IP address or a plain
// host name. It keeps a setting from ever injecting VCL.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.:-]{1,253}$`)

// parseHostPort checks addr and splits it. Port 0 is allowed only when
// listening (anyPort).
func parseHostPort(addr string, anyPort bool) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	if !hostPattern.MatchString(host) {
		return "", 0, fmt.Errorf("%q: host must be an IP address or a host name", addr)
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("%q: %q is not an IPv6 address", addr, host)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 || (port == 0 && !anyPort) || strconv.Itoa(port) != p {
		return "", 0, fmt.Errorf("%q: port must be a number from 1 to 65535", addr)
	}
	return host, port, nil
}

// CheckAddr checks a host:port setting: a backend's (port 1-65535) or,
// with listen, a listener's (port 0 picks a free one).
func CheckAddr(addr string, listen bool) error {
	if _, _, err := parseHostPort(addr, listen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

var sizePattern = regexp.MustCompile(`^[1-9][0-9]{0,5}[kmg]$`)

// The probe interval's bounds: faster floods the backends' /readyz,
// slower leaves a dead origin in rotation for minutes.
const (
	MinProbeInterval = 50 * time.Millisecond
	MaxProbeInterval = time.Minute
)

// ValidProbeInterval reports whether d is within the bounds.
func ValidProbeInterval(d time.Duration) bool { return d >= MinProbeInterval && d <= MaxProbeInterval }

// ValidCacheSize reports whether s is a cache size varnishd takes, e.g. 256m.
func ValidCacheSize(s string) bool { return sizePattern.MatchString(s) }

func (c *Config) check() error {
	var errs []error
	for name, addr := range map[string]string{"listen address": c.Addr, "purge address": c.PurgeAddr} {
		if _, _, err := parseHostPort(addr, true); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(c.Origins) == 0 {
		errs = append(errs, errors.New("origins: at least one origin is needed"))
	}
	if len(c.Origins) > maxBackends || len(c.Feeds) > maxBackends {
		errs = append(errs, fmt.Errorf("origins and feeds: at most %d each", maxBackends))
	}
	for _, list := range [][]string{c.Origins, c.Feeds} {
		for _, a := range list {
			if _, _, err := parseHostPort(a, false); err != nil {
				errs = append(errs, fmt.Errorf("backend: %w", err))
			}
		}
	}
	if c.CacheSize != "" && !sizePattern.MatchString(c.CacheSize) {
		errs = append(errs, fmt.Errorf("cache size %q: want a number with k, m or g, e.g. 256m", c.CacheSize))
	}
	if c.ProbeInterval != 0 && !ValidProbeInterval(c.ProbeInterval) {
		errs = append(errs, fmt.Errorf("probe interval %v: want %v to %v", c.ProbeInterval, MinProbeInterval, MaxProbeInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func backends(prefix string, addrs []string) []backend {
	out := make([]backend, 0, len(addrs))
	for i, a := range addrs {
		host, port, _ := parseHostPort(a, false) // checked before
		out = append(out, backend{Name: fmt.Sprintf("%s_%d", prefix, i), Host: host, Port: port})
	}
	return out
}

// vclDuration writes d as VCL does, in milliseconds.
func vclDuration(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// RenderVCL returns the edge's VCL for c.
func RenderVCL(c Config) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	interval := c.ProbeInterval
	if interval == 0 {
		interval = time.Second
	}
	var b bytes.Buffer
	err := vcl.Execute(&b, map[string]any{
		"Origins":       backends("origin", c.Origins),
		"Feeds":         backends("feed", c.Feeds),
		"ProbeInterval": vclDuration(interval),
		// A probe must end before the next one starts, and outlast the
		// origin's own readiness checks (500 ms) at the default.
		"ProbeTimeout": vclDuration(interval * 4 / 5),
	})
	if err != nil {
		return nil, fmt.Errorf("localedge: render VCL: %w", err)
	}
	return b.Bytes(), nil
}

// Edge is a running varnishd.
type Edge struct {
	cmd       *exec.Cmd
	workDir   string
	addr      string
	purgeAddr string
	exited    chan struct{}
	waitErr   error
}

// Start writes the VCL into c.WorkDir and starts varnishd in the
// foreground, its output going to log. It returns once both listeners
// answer; varnishd stops when ctx ends or Stop is called.
func Start(ctx context.Context, c Config, log io.Writer) (*Edge, error) {
	src, err := RenderVCL(c)
	if err != nil {
		return nil, err
	}
	bin, err := findVarnishd(c.Varnishd)
	if err != nil {
		return nil, err
	}
	workDir, err := filepath.Abs(c.WorkDir)
	if err != nil || c.WorkDir == "" {
		return nil, fmt.Errorf("%w: work dir %q", ErrInvalidConfig, c.WorkDir)
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("localedge: %w", err)
	}
	vclPath := filepath.Join(workDir, "edge.vcl")
	if err := os.WriteFile(vclPath, src, 0o644); err != nil {
		return nil, fmt.Errorf("localedge: write VCL: %w", err)
	}
	size := c.CacheSize
	if size == "" {
		size = "256m"
	}
	cmd := exec.Command(bin,
		"-F",         // stay in the foreground, under our control
		"-j", "none", // no privilege separation: it runs as the caller, root or not
		"-n", workDir,
		"-a", "public="+c.Addr,
		"-a", "purge="+c.PurgeAddr,
		"-T", "127.0.0.1:0",
		"-f", vclPath,
		"-s", "malloc,"+size,
		// Idle event streams send a heartbeat every 10-15 s.
		"-p", "pipe_timeout=120",
	)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so a Ctrl-C meant for the caller reaches it
	// only through Stop; and it is told to stop should the caller die
	// without calling Stop, rather than hold the ports as an orphan.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localedge: start varnishd: %w", err)
	}
	e := &Edge{cmd: cmd, workDir: workDir, exited: make(chan struct{})}
	go func() {
		e.waitErr = cmd.Wait()
		close(e.exited)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = e.Stop(10 * time.Second)
		case <-e.exited:
		}
	}()
	if err := e.waitReady(ctx, 60*time.Second); err != nil {
		_ = e.Stop(5 * time.Second)
		return nil, err
	}
	return e, nil
}

func findVarnishd(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if p, err := exec.LookPath("varnishd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/varnishd"); err == nil {
		return "/usr/sbin/varnishd", nil
	}
	return "", errors.New("localedge: varnishd not found; install Debian's varnish and varnish-modules (scripts/deps.sh does)")
}

// waitReady learns the bound ports from varnishadm and waits until the
// purge listener answers its health check.
func (e *Edge) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-e.exited:
			// Most often a VCL that does not compile: vmod xkey missing
			// (Debian's varnish-modules) or a listener already in use.
			return fmt.Errorf("localedge: varnishd exited at start: %v (see its log)", e.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if e.addr == "" {
			if last = e.readListeners(ctx); last != nil {
				continue
			}
		}
		res, err := client.Get("http://" + e.purgeAddr + "/healthz")
		if err != nil {
			last = err
			continue
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			// The answer may come from another varnishd left running on
			// the same work dir: ours must be the one that wrote the pid.
			if err := e.checkOwnPid(); err != nil {
				return err
			}
			return nil
		}
		last = fmt.Errorf("health check answered %s", res.Status)
	}
	return fmt.Errorf("localedge: varnishd did not become ready within %v: %v", limit, last)
}

func (e *Edge) checkOwnPid() error {
	select {
	case <-e.exited:
		return fmt.Errorf("localedge: varnishd exited at start: %v (another one running on %s?)", e.waitErr, e.workDir)
	default:
	}
	b, err := os.ReadFile(filepath.Join(e.workDir, "_.pid"))
	if err != nil {
		return fmt.Errorf("localedge: read varnishd's pid: %w", err)
	}
	if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid != e.cmd.Process.Pid {
		return fmt.Errorf("localedge: another varnishd (pid %d) runs on %s; stop it first", pid, e.workDir)
	}
	return nil
}

func (e *Edge) readListeners(ctx context.Context) error {
	adm, err := exec.LookPath("varnishadm")
	if err != nil {
		adm = "/usr/bin/varnishadm"
	}
	out, err := exec.CommandContext(ctx, adm, "-n", e.workDir, "-t", "2", "debug.listen_address").Output()
	if err != nil {
		return fmt.Errorf("varnishadm debug.listen_address: %w", err)
	}
	found := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			found[f[0]] = net.JoinHostPort(f[1], f[2])
		}
	}
	if found["public"] == "" || found["purge"] == "" {
		return fmt.Errorf("varnishadm listed %q", out)
	}
	e.addr, e.purgeAddr = found["public"], found["purge"]
	return nil
}

// URL is the public listener's base URL, e.g. http://127.0.0.1:8000.
func (e *Edge) URL() string { return "http://" + e.addr }

// PurgeURL is the purge listener's base URL.
func (e *Edge) PurgeURL() string { return "http://" + e.purgeAddr }

// Done is closed when varnishd has exited.
func (e *Edge) Done() <-chan struct{} { return e.exited }

// Stop asks varnishd to stop (SIGTERM), kills it after timeout, and waits.
func (e *Edge) Stop(timeout time.Duration) error {
	select {
	case <-e.exited:
		return nil
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.exited:
		return nil
	case <-t.C:
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.exited
		return errors.New("localedge: varnishd did not stop in time; killed")
	}
}

// WorkDir is varnishd's working folder (varnishlog -n, varnishadm -n).
func (e *Edge) WorkDir() string { return e.workDir }
