package sseclient_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"livecommerce/internal/sseclient"
)

// readAll parses the whole stream, returning the blocks and the error
// that ended it.
func readAll(t *testing.T, r *sseclient.Reader) ([]sseclient.Block, error) {
	t.Helper()
	var out []sseclient.Block
	for {
		b, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, b)
		if len(out) > 10000 {
			t.Fatal("more blocks than the input can hold")
		}
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name, in string
		want     []sseclient.Block
	}{
		{
			name: "one event",
			in:   "event: stock\ndata: {\"a\":1}\nid: A1:2\n\n",
			want: []sseclient.Block{{Type: "stock", Data: `{"a":1}`, LastEventID: "A1:2"}},
		},
		{
			name: "type defaults to message",
			in:   "data: x\n\n",
			want: []sseclient.Block{{Type: "message", Data: "x"}},
		},
		{
			name: "empty event field is message",
			in:   "event:\ndata: x\n\n",
			want: []sseclient.Block{{Type: "message", Data: "x"}},
		},
		{
			name: "multi-line data joined by LF",
			in:   "data: one\ndata: two\ndata:\ndata: four\n\n",
			want: []sseclient.Block{{Type: "message", Data: "one\ntwo\n\nfour"}},
		},
		{
			name: "CRLF line ends",
			in:   "event: stock\r\ndata: a\r\ndata: b\r\nid: 7\r\n\r\n",
			want: []sseclient.Block{{Type: "stock", Data: "a\nb", LastEventID: "7"}},
		},
		{
			name: "only one leading space is stripped",
			in:   "data:  two spaces\ndata:none\n\n",
			want: []sseclient.Block{{Type: "message", Data: " two spaces\nnone"}},
		},
		{
			name: "colon in value kept",
			in:   "data: a:b: c\n\n",
			want: []sseclient.Block{{Type: "message", Data: "a:b: c"}},
		},
		{
			name: "field without colon has an empty value",
			in:   "data\n\ndata\ndata\n\n",
			want: []sseclient.Block{{Type: "message", Data: ""}, {Type: "message", Data: "\n"}},
		},
		{
			name: "comments counted, not data",
			in:   ":\n\n: hello\n:x\ndata: d\n\n",
			want: []sseclient.Block{{Comments: 1}, {Type: "message", Data: "d", Comments: 2}},
		},
		{
			name: "id persists across blocks",
			in:   "id: 1\ndata: a\n\ndata: b\n\n:\n\n",
			want: []sseclient.Block{
				{Type: "message", Data: "a", LastEventID: "1"},
				{Type: "message", Data: "b", LastEventID: "1"},
				{Comments: 1, LastEventID: "1"},
			},
		},
		{
			name: "empty id resets",
			in:   "id: 1\ndata: a\n\nid\ndata: b\n\n",
			want: []sseclient.Block{
				{Type: "message", Data: "a", LastEventID: "1"},
				{Type: "message", Data: "b"},
			},
		},
		{
			name: "id with NUL ignored",
			in:   "id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n",
			want: []sseclient.Block{
				{Type: "message", Data: "a", LastEventID: "1"},
				{Type: "message", Data: "b", LastEventID: "1"},
			},
		},
		{
			name: "id without data is kept but nothing dispatched",
			in:   "id: 5\n\ndata: x\n\n",
			want: []sseclient.Block{{LastEventID: "5"}, {Type: "message", Data: "x", LastEventID: "5"}},
		},
		{
			name: "retry",
			in:   "retry: 1500\n\n",
			want: []sseclient.Block{{Retry: 1500 * time.Millisecond}},
		},
		{
			name: "retry with non-digits ignored",
			in:   "retry: 1.5\n\nretry: -1\n\nretry: 10s\n\nretry:\n\nretry: +5\n\nretry:  5\n\nretry: 0x10\n\n",
			want: []sseclient.Block{{}, {}, {}, {}, {}, {}, {}},
		},
		{
			name: "retry zero",
			in:   "retry: 0\n\n",
			want: []sseclient.Block{{}},
		},
		{
			name: "event without data is not dispatched",
			in:   "event: stock\n\ndata: x\n\n",
			want: []sseclient.Block{{}, {Type: "message", Data: "x"}},
		},
		{
			name: "unknown fields ignored",
			in:   "foo: bar\nData: no\ndata : no\n data: no\ndata: yes\n\n",
			want: []sseclient.Block{{Type: "message", Data: "yes"}},
		},
		{
			name: "blank lines between blocks skipped",
			in:   "\n\n\ndata: a\n\n\n\ndata: b\n\n",
			want: []sseclient.Block{{Type: "message", Data: "a"}, {Type: "message", Data: "b"}},
		},
		{
			name: "last event type wins",
			in:   "event: a\nevent: b\ndata: x\n\n",
			want: []sseclient.Block{{Type: "b", Data: "x"}},
		},
		{
			name: "type does not leak into the next block",
			in:   "event: snapshot\ndata: s\n\ndata: m\n\n",
			want: []sseclient.Block{{Type: "snapshot", Data: "s"}, {Type: "message", Data: "m"}},
		},
		{
			name: "what the feed writes",
			in:   "retry: 2791\n\nid: A1:1\nevent: snapshot\ndata: {\"live_id\":\"L1\"}\n\n:\n\nretry: 1000\n\nevent: disconnect\ndata: {\"reason\":\"shutdown\"}\n\n",
			want: []sseclient.Block{
				{Retry: 2791 * time.Millisecond},
				{Type: "snapshot", Data: `{"live_id":"L1"}`, LastEventID: "A1:1"},
				{Comments: 1, LastEventID: "A1:1"},
				{Retry: time.Second, LastEventID: "A1:1"},
				{Type: "disconnect", Data: `{"reason":"shutdown"}`, LastEventID: "A1:1"},
			},
		},
		{
			name: "leading byte order mark stripped",
			in:   "\ufeffdata: x\n\n",
			want: []sseclient.Block{{Type: "message", Data: "x"}},
		},
		{
			name: "EOF mid-block drops the block",
			in:   "data: a\n\ndata: b\nid: 9\n",
			want: []sseclient.Block{{Type: "message", Data: "a"}},
		},
		{
			name: "EOF mid-line drops the block",
			in:   "data: a\n\ndata: b",
			want: []sseclient.Block{{Type: "message", Data: "a"}},
		},
		{
			name: "empty stream",
			in:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and a byte at a time, which splits every line (and
			// every CRLF) across reads.
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, err := readAll(t, sseclient.NewReader(r))
				if !errors.Is(err, io.EOF) {
					t.Errorf("stream ended with %v, want io.EOF", err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d blocks %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("block %d = %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestLongLines(t *testing.T) {
	// Longer than the read buffer but within MaxLine: read whole.
	long := strings.Repeat("x", 20000)
	r := sseclient.NewReader(strings.NewReader("data: " + long + "\r\n\r\n"))
	b, err := r.Next()
	if err != nil || b.Data != long {
		t.Fatalf("Next() = %d bytes of data, %v; want %d bytes", len(b.Data), err, len(long))
	}

	tests := []struct {
		name string
		line string
		ok   bool
	}{
		{"exactly MaxLine", "data: " + strings.Repeat("x", 94), true},
		{"exactly MaxLine with CRLF", "data: " + strings.Repeat("x", 94) + "\r", true},
		{"one over MaxLine", "data: " + strings.Repeat("x", 95), false},
		{"far over MaxLine, no line end", "data: " + strings.Repeat("x", 100000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sseclient.NewReader(strings.NewReader(tt.line + "\n\n"))
			r.MaxLine = 100
			_, err := r.Next()
			switch {
			case tt.ok && err != nil:
				t.Errorf("Next() = %v, want the %d-byte line accepted", err, len(tt.line))
			case !tt.ok && !errors.Is(err, sseclient.ErrLineTooLong):
				t.Errorf("Next() = %v, want ErrLineTooLong", err)
			}
		})
	}
}

// errReader fails after its data.
type errReader struct {
	data string
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.data == "" {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := sseclient.NewReader(&errReader{data: "data: a\n\ndata: b\n", err: boom})
	if b, err := r.Next(); err != nil || b.Data != "a" {
		t.Fatalf("Next() = %+v, %v; want the first block", b, err)
	}
	if b, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next() = %+v, %v; want the read error", b, err)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"event: stock\ndata: {\"a\":1}\nid: A1:2\n\n",
		"data: one\r\ndata: two\r\n\r\n",
		":\n\nretry: 1500\n\nid: 1\x00\n\n",
		"\ufeffdata: x\n\n",
		"data: a\n\ndata: b",
		"data\n\nid\n\nretry\n\nevent\n\n",
		"\r\n\r\r\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := sseclient.NewReader(strings.NewReader(in))
		r.MaxLine = 64
		lines := strings.Count(in, "\n")
		blocks := 0
		for {
			b, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, sseclient.ErrLineTooLong) {
					t.Fatalf("Next() = %v", err)
				}
				return
			}
			// A block ends with a blank line and holds at least one other.
			if blocks++; 2*blocks > lines {
				t.Fatalf("%d blocks from %d lines", blocks, lines)
			}
			if b.Type == "" && b.Data != "" {
				t.Fatalf("block %+v has data but no type", b)
			}
			if strings.ContainsRune(b.LastEventID, 0) || strings.ContainsAny(b.LastEventID, "\n") {
				t.Fatalf("last event id %q", b.LastEventID)
			}
			if b.Retry < 0 || b.Comments < 0 {
				t.Fatalf("block %+v", b)
			}
			if len(b.Type) > r.MaxLine || len(b.LastEventID) > r.MaxLine {
				t.Fatalf("block %+v exceeds MaxLine", b)
			}
		}
	})
}
