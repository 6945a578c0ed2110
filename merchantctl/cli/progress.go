package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress shows an upload's advance on stderr: a bar redrawn in place on
// a terminal, else a plain line per request (at most one every 2s) for
// logs. Nothing is shown for a single request. stdout is never touched.
type progress struct {
	w            io.Writer
	tty          bool
	rows, chunks int
	start, last  time.Time
	drawn        bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func newProgress(w io.Writer, rows, chunks int) *progress {
	return &progress{w: w, tty: isTerminal(w), rows: rows, chunks: chunks, start: time.Now()}
}

func (p *progress) update(chunksDone, rowsDone int, ch chunk) {
	if p.chunks < 2 {
		return
	}
	now := time.Now()
	if p.tty {
		const width = 30
		filled := width * rowsDone / max(p.rows, 1)
		fmt.Fprintf(p.w, "\r\x1b[K[%s%s] %d/%d rows, request %d/%d, %s",
			strings.Repeat("#", filled), strings.Repeat(" ", width-filled), rowsDone, p.rows, chunksDone, p.chunks, now.Sub(p.start).Round(100*time.Millisecond))
		p.drawn = true
		return
	}
	if chunksDone == p.chunks || now.Sub(p.last) >= 2*time.Second {
		fmt.Fprintf(p.w, "merchantctl upload: %d/%d rows applied (request %d/%d, lines %d-%d)\n", rowsDone, p.rows, chunksDone, p.chunks, ch.first, ch.last)
		p.last = now
	}
}

// abort ends the bar's line so a message can follow.
func (p *progress) abort() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *progress) finish() { p.abort() }
