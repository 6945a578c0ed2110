package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// samples are the series of one /metrics scrape, keyed by the series as
// written: a name, or a name with its labels ("x_bucket{le=\"0.1\"}").
type samples map[string]float64

// scrape reads a Prometheus text exposition. It is no general parser: the
// feed's metrics carry no timestamps and no spaces in label values, which
// is all it needs to handle.
func scrape(ctx context.Context, hc *http.Client, url string) (samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: get %s: %s", url, resp.Status)
	}
	s, err := parseSamples(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics: %s: %w", url, err)
	}
	return s, nil
}

func parseSamples(r io.Reader) (samples, error) {
	out := samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the labels' closing brace, or the name.
		cut := strings.LastIndexByte(line, '}')
		if cut < 0 {
			cut = strings.IndexByte(line, ' ')
		} else {
			cut++
		}
		if cut <= 0 || cut >= len(line) {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[cut:]), 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		out[strings.TrimSpace(line[:cut])] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// goMemory is the Go runtime's own view of the memory a process uses for
// objects and goroutine stacks.
type goMemory struct {
	HeapInuse  int64
	StackInuse int64
	Goroutines int64
}

func (m goMemory) heapAndStack() int64 { return m.HeapInuse + m.StackInuse }

func (s samples) goMemory() (goMemory, error) {
	var m goMemory
	for name, dst := range map[string]*int64{
		"go_memstats_heap_inuse_bytes":  &m.HeapInuse,
		"go_memstats_stack_inuse_bytes": &m.StackInuse,
		"go_goroutines":                 &m.Goroutines,
	} {
		v, ok := s[name]
		if !ok {
			return goMemory{}, fmt.Errorf("metrics: no %s", name)
		}
		*dst = int64(v)
	}
	return m, nil
}
