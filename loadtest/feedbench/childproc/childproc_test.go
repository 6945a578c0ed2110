package childproc

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestTail(t *testing.T) {
	tl := newTail(2)
	tl.Write([]byte("one\ntwo\nthr"))
	tl.Write([]byte("ee\nfour"))
	if got, want := tl.indented(), "\n    two\n    three"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

func TestStartStopAndExit(t *testing.T) {
	p, err := Start("sleeper", exec.Command("sleep", "60"), nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := p.Alive(); err != nil {
		t.Fatalf("Alive: %v", err)
	}
	p.Stop(5 * time.Second)
	p.Stop(5 * time.Second) // again: nothing to do
	if err := p.Alive(); err == nil {
		t.Error("Alive after Stop: got no error")
	}

	p, err = Start("complainer", exec.Command("sh", "-c", "echo first >&2; echo broken >&2; exit 3"), nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	err = p.WaitHTTP(context.Background(), http.DefaultClient, "http://127.0.0.1:1/readyz", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "complainer exited") || !strings.Contains(err.Error(), "broken") {
		t.Errorf("WaitHTTP on a child that exited: got %v, want its exit and its last stderr lines", err)
	}
}

func TestFreeAddr(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("got %q, %v; want a loopback address", addr, err)
	}
}
