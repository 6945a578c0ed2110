// Package sseclient reads a server-sent event stream the way a browser's
// EventSource does (WHATWG HTML, "Parsing an event stream"), for the
// feed's tests, its benchmark and the load generator.
package sseclient

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// Block is what the stream sent up to one blank line.
type Block struct {
	// Type is the event type ("message" when the block named none);
	// empty when the block carried no data, which EventSource would not
	// dispatch (a retry hint or a heartbeat comment alone).
	Type string
	Data string
	// LastEventID is the stream's last event id after this block, as
	// EventSource would send it in Last-Event-ID on reconnecting.
	LastEventID string
	// Retry is the reconnection delay the block set, if any.
	Retry time.Duration
	// Comments counts comment lines (heartbeats) in the block.
	Comments int
}

// Reader parses a stream.
type Reader struct {
	br      *bufio.Reader
	lastID  string
	started bool // past the first line, where a byte order mark may be
	// MaxLine bounds one line; a longer one is an error rather than
	// unbounded memory.
	MaxLine int
}

// NewReader reads from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 4096), MaxLine: 1 << 20}
}

// ErrLineTooLong is returned for a line over MaxLine bytes.
var ErrLineTooLong = errors.New("sseclient: line too long")

// Next returns the next block. At the end of the stream it returns io.EOF
// (a block cut off by the end is dropped, as EventSource drops it).
func (r *Reader) Next() (Block, error) {
	var b Block
	var data []byte
	hasData, seen := false, false
	for {
		line, err := r.line()
		if err != nil {
			return Block{}, err
		}
		if len(line) == 0 {
			if !seen {
				continue
			}
			b.LastEventID = r.lastID
			if hasData {
				if b.Type == "" {
					b.Type = "message"
				}
				b.Data = string(data)
			} else {
				b.Type = ""
			}
			return b, nil
		}
		seen = true
		if line[0] == ':' {
			b.Comments++
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			b.Type = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
			}
		case "retry":
			if n, err := strconv.ParseUint(string(value), 10, 31); err == nil {
				b.Retry = time.Duration(n) * time.Millisecond
			}
		}
	}
}

// line reads one line without its end (LF, CRLF or CR-LF pairs; a lone
// CR is rare enough in practice to be treated as text).
func (r *Reader) line() ([]byte, error) {
	var out []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		out = append(out, chunk...)
		if err == bufio.ErrBufferFull {
			// The last byte may be the CR of a CRLF: it does not count.
			if len(out)-1 > r.MaxLine {
				return nil, ErrLineTooLong
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out = bytes.TrimSuffix(out[:len(out)-1], []byte("\r"))
		if !r.started {
			// The stream may open with a UTF-8 byte order mark, which
			// EventSource ignores.
			r.started = true
			out = bytes.TrimPrefix(out, []byte("\ufeff"))
		}
		if len(out) > r.MaxLine {
			return nil, ErrLineTooLong
		}
		return out, nil
	}
}
