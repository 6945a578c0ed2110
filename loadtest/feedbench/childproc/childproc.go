// Package childproc runs the processes a benchmark starts (the server it
// measures) so that none is left behind: each in its own process group,
// killed by the kernel should the benchmark die, stopped with SIGTERM then
// SIGKILL, and with the last lines of its stderr kept for error messages.
package childproc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a process the bench started and must not leave behind.
type Proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been reaped
	err    error         // how it ended; read after exited is closed
	stderr *tail
}

// Start starts cmd, whose stderr is kept (the last lines, for a failure
// message) and copied to log if that is not nil. name names the process
// in errors.
func Start(name string, cmd *exec.Cmd, log io.Writer) (*Proc, error) {
	c := &Proc{name: name, cmd: cmd, exited: make(chan struct{}), stderr: newTail(30)}
	cmd.Stderr = c.stderr
	if log != nil {
		cmd.Stderr = io.MultiWriter(c.stderr, log)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so a Ctrl-C in the terminal reaches
		// only the bench, which then stops the child in order.
		Setpgid: true,
		// Should the bench die without stopping it (SIGKILL, a crash),
		// the kernel kills the child rather than leave it serving.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, cmd.Path, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// Pid is the child's process id.
func (c *Proc) Pid() int { return c.cmd.Process.Pid }

// Name is the name the child was started with.
func (c *Proc) Name() string { return c.name }

// StderrTail is the last lines the child wrote to stderr, one indented
// line each, for an error message; empty when there are none.
func (c *Proc) StderrTail() string { return c.stderr.indented() }

// Alive reports an error if the child has exited.
func (c *Proc) Alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s exited: %v%s", c.name, c.err, c.stderr.indented())
	default:
		return nil
	}
}

// Stop asks the child to end (SIGTERM) and kills it if it has not within
// grace. It is safe to call more than once.
func (c *Proc) Stop(grace time.Duration) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// WaitHTTP polls url until it answers 200, the child exits, or ctx or
// timeout ends.
func (c *Proc) WaitHTTP(ctx context.Context, hc *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if err := c.Alive(); err != nil {
			return err
		}
		last = getOK(ctx, hc, url)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready after %s: %w%s", c.name, url, timeout, last, c.stderr.indented())
		case <-tick.C:
		}
	}
}

func getOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// FreeAddr finds a loopback port nobody listens on. The port is free when
// returned and could in principle be taken before the child binds it; on
// a bench machine that race is not worth a handshake with the child.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// tail keeps the last lines written to it.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(t.part[:i]))
		t.part = t.part[i+1:]
		if len(t.lines) > t.max {
			t.lines = t.lines[1:]
		}
	}
	// A line that never ends must not grow without bound either.
	if len(t.part) > 4096 {
		t.part = t.part[len(t.part)-4096:]
	}
	return len(p), nil
}

// indented is the kept output, one indented line each, for an error
// message; empty when there is none.
func (t *tail) indented() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "\n    " + strings.Join(t.lines, "\n    ")
}
