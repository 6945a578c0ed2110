package loadrun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"livecommerce/loadtest/loadreport"
	"livecommerce/loadtest/scenario"
)

// maxProfile bounds one profile's size: a CPU profile of a minute is a
// few hundred KiB.
const maxProfile = 64 << 20

// profileSeconds is the length of the profile that covers a measured
// window: its whole seconds, at least one (the profiler takes whole
// seconds).
func profileSeconds(window time.Duration) int64 {
	return max(int64(window/time.Second), 1)
}

// profileAll asks every ops listener for a CPU profile of seconds, from
// now, and writes each to dir/profiles/<phase>-<service>.pb.gz. It
// returns once they are all in, or have failed; a failure is in its
// Profile's Err, not the run's.
func profileAll(ctx context.Context, ops []scenario.OpsListener, dir, phase string, seconds int64) []loadreport.Profile {
	out := make([]loadreport.Profile, len(ops))
	var wg sync.WaitGroup
	for i, o := range ops {
		wg.Go(func() {
			file := filepath.Join("profiles", loadreport.FileName(phase)+"-"+o.Name+".pb.gz")
			p := loadreport.Profile{Service: o.Name, File: file, Seconds: seconds}
			n, err := fetchProfile(ctx, o.URL, seconds, filepath.Join(dir, file))
			p.Bytes = n
			if err != nil {
				p.File, p.Err = "", err.Error()
			}
			out[i] = p
		})
	}
	wg.Wait()
	return out
}

// fetchProfile takes one CPU profile of seconds from the ops listener at
// base and writes it to path.
func fetchProfile(ctx context.Context, base string, seconds int64, path string) (int64, error) {
	hc := &http.Client{Timeout: time.Duration(seconds)*time.Second + 30*time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/pprof/profile?seconds="+strconv.FormatInt(seconds, 10), nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("CPU profile from %s: %w", base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProfile+1))
	switch {
	case err != nil:
		return 0, fmt.Errorf("CPU profile from %s: %w", base, err)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("CPU profile from %s: %s: %.200s", base, resp.Status, bytes.TrimSpace(b))
	case len(b) > maxProfile:
		return 0, fmt.Errorf("CPU profile from %s: larger than %d MiB", base, maxProfile>>20)
	case !bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		// pprof's profiles are gzipped protocol buffers.
		return 0, fmt.Errorf("CPU profile from %s: the answer is not a gzipped profile", base)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("profiles folder: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return 0, fmt.Errorf("write profile: %w", err)
	}
	return int64(len(b)), nil
}
