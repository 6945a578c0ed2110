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
	br       *bufio.Reader
	lastID   string
	lastType string // the last event type read, reused while it repeats
	data     []byte // the block's data lines, reused from block to block
	started  bool   // past the first line, where a byte order mark may be
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
//
// The Block's strings are copies, its own to keep. A block costs an
// allocation for its data and one for a new last event id, no more: the
// feed's benchmark runs 10,000 readers on the feed's own machine, and
// whatever they spend is taken from the feed.
func (r *Reader) Next() (Block, error) {
	var b Block
	data := r.data[:0]
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
				// Keep the buffer for the next block unless this one
				// made it unusually large.
				if cap(data) <= 4096 {
					r.data = data[:0]
				}
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
			// Comparing does not allocate; a stream's blocks mostly
			// repeat one type.
			if string(value) != r.lastType {
				r.lastType = string(value)
			}
			b.Type = r.lastType
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 && string(value) != r.lastID {
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
//
// A line that fits in the read buffer is returned without copying: the
// slice points into the buffer and is valid only until the next read.
// Next uses it transiently (it parses the line and copies what it keeps
// into the Block's strings) before reading again, so that is safe.
func (r *Reader) line() ([]byte, error) {
	out, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Longer than the buffer: gather the pieces in a copy.
		out = append([]byte(nil), out...)
		for err == bufio.ErrBufferFull {
			// The last byte may be the CR of a CRLF: it does not count.
			if len(out)-1 > r.MaxLine {
				return nil, ErrLineTooLong
			}
			var chunk []byte
			chunk, err = r.br.ReadSlice('\n')
			out = append(out, chunk...)
		}
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
