package feedtest_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"livecommerce/stockfeed/feedtest"
)

// TestNextAfterEnd: once the server has ended the stream, Next keeps
// returning the end at once instead of blocking.
func TestNextAfterEnd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: A:1\nevent: stock\ndata: {}\n\n")
	}))
	defer srv.Close()
	s := feedtest.Dial(t, srv.URL, "L", "")
	if b, err := s.Next(5 * time.Second); err != nil || b.Type != "stock" || b.LastEventID != "A:1" {
		t.Fatalf("first block = %+v, %v; want the stock event A:1", b, err)
	}
	for i := range 3 {
		// A timeout would take the full minute; the end comes at once.
		if _, err := s.Next(time.Minute); !errors.Is(err, io.EOF) {
			t.Fatalf("Next #%d after the end = %v, want io.EOF", i+1, err)
		}
	}
}

// TestCloseEndsReader: a test that stops reading a busy stream leaves the
// block buffer full; Close still ends the reader goroutine.
func TestCloseEndsReader(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "id: A:%d\nevent: stock\ndata: {}\n\n", i+1); err != nil {
				return
			}
			if i%100 == 0 {
				w.(http.Flusher).Flush()
			}
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			default:
			}
		}
	}))
	defer srv.Close()
	defer close(stop)

	s := feedtest.Dial(t, srv.URL, "L", "")
	// Far more blocks than the buffer holds are on their way.
	if _, err := s.Next(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stacks(), blockedReader) {
		if time.Now().After(deadline) {
			t.Fatalf("the reader never waited on a full buffer:\n%s", stacks())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	for strings.Contains(stacks(), reader) {
		if time.Now().After(deadline) {
			t.Fatalf("reader goroutine still running after Close:\n%s", stacks())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	reader = "feedtest.(*Stream).read("
	// blockedReader is the reader parked with a block it cannot hand
	// over: the buffer is full.
	blockedReader = "[select]:\nlivecommerce/stockfeed/feedtest.(*Stream).read("
)

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
