// Package cpuprofile profiles a load tool itself. On a machine it shares
// with what it measures, the tool's own cost is part of every figure.
package cpuprofile

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Start writes this process's CPU profile to path until stop is called.
// An empty path profiles nothing.
func Start(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
