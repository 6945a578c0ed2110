package sse

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// wire is a hijacked connection carrying one event stream.
type wire struct {
	conn    net.Conn
	raw     syscall.RawConn // conn's descriptor, for writes that must not wait; nil if it has none
	chunked bool            // HTTP/1.1 chunked encoding; HTTP/1.0 gets the body until close
	head    []byte          // the status line and headers, sent with the first write
	size    []byte          // scratch for a chunk's size line
	parts   [12][]byte
	broken  bool // a write failed part-way: the chunk framing cannot be finished
	// gone is closed when the viewer hangs up or sends anything at all:
	// after its request an EventSource only listens.
	gone chan struct{}
}

var crlf = []byte("\r\n")

// hijack sends nothing yet: it takes the connection over and prepares the
// response head (with the headers already set on w, CORS included).
func hijack(w http.ResponseWriter, r *http.Request) (*wire, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	// The connection ends with the stream: nothing is read from it again.
	h.Set("Connection", "close")
	chunked := r.ProtoAtLeast(1, 1)
	if chunked {
		h.Set("Transfer-Encoding", "chunked")
	}
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	if err := h.Write(&head); err != nil {
		conn.Close()
		return nil, err
	}
	head.WriteString("\r\n")
	w2 := &wire{conn: conn, chunked: chunked, head: head.Bytes(), gone: make(chan struct{})}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w2.raw = raw
		}
	}
	go w2.watch()
	return w2, nil
}

// watch blocks in a read until the viewer hangs up (or the stream closes
// the connection), so a departed viewer frees its slot at once rather than
// at the next write. It costs a goroutine with a small stack, far less
// than net/http's reader and buffers.
func (w *wire) watch() {
	var b [1]byte
	w.conn.Read(b[:])
	close(w.gone)
}

// write sends parts as one chunk in one system call, or fails once
// timeout has passed.
func (w *wire) write(timeout time.Duration, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 && w.head == nil {
		return nil
	}
	bufs := net.Buffers(w.parts[:0])
	if w.head != nil {
		bufs = append(bufs, w.head)
		w.head = nil
	}
	if n > 0 {
		if w.chunked {
			w.size = append(strconv.AppendInt(w.size[:0], int64(n), 16), crlf...)
			bufs = append(bufs, w.size)
		}
		bufs = append(bufs, parts...)
		if w.chunked {
			bufs = append(bufs, crlf)
		}
	}
	return w.writeBufs(timeout, bufs)
}

// send writes bytes already framed for this response (a hub.Frame's
// Bytes) in one system call, or fails once timeout has passed.
func (w *wire) send(timeout time.Duration, parts ...[]byte) error {
	if len(parts) == 0 {
		return nil
	}
	return w.writeBufs(timeout, append(net.Buffers(w.parts[:0]), parts...))
}

func (w *wire) writeBufs(timeout time.Duration, bufs net.Buffers) error {
	defer clear(w.parts[:])
	if err := w.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := bufs.WriteTo(w.conn); err != nil {
		w.broken = true
		return err
	}
	return nil
}

// TryWrite writes what the socket takes of p at once, without waiting
// and without the connection's deadline: the live's fan-out calls it for
// every viewer in turn and must not stall on one. The stream's goroutine
// writes the rest (hub.Client). A connection that offers no file
// descriptor takes nothing, and every window goes through that goroutine.
//
// RawConn.Control does not take the descriptor's write lock: what keeps
// this write from overlapping the stream goroutine's is hub.Client, which
// calls TryWrite only under its lock while the viewer is not slow, and
// marks it slow before that goroutine writes.
func (w *wire) TryWrite(p []byte) (int, error) {
	if w.raw == nil {
		return 0, nil
	}
	var n int
	var werr error
	err := w.raw.Control(func(fd uintptr) {
		for {
			n, werr = syscall.Write(int(fd), p)
			if werr != syscall.EINTR {
				return
			}
		}
	})
	if n < 0 {
		n = 0
	}
	if werr == syscall.EAGAIN {
		werr = nil // full: the rest is written by waiting for the socket
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		w.broken = true
	}
	return n, err
}

// close ends the response properly where it can and closes the
// connection.
func (w *wire) close() {
	if w.chunked && w.head == nil && !w.broken {
		w.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		w.conn.Write([]byte("0\r\n\r\n"))
	}
	w.conn.Close()
}
