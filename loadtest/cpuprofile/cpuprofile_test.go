package cpuprofile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStart(t *testing.T) {
	stop, err := Start("")
	if err != nil {
		t.Fatalf("no path: %v", err)
	}
	stop()
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err = Start(path)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	stop()
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("profile: %v, %v; want a file with a profile in it", st, err)
	}
	if _, err := Start(filepath.Join(t.TempDir(), "no", "such", "dir", "cpu.pprof")); err == nil {
		t.Error("a path that cannot be created: got no error")
	}
}
