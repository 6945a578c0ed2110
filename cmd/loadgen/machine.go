package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/redis/go-redis/v9"
)

// describeMachine says what the figures ran on: CPU, cores, memory, OS,
// and the versions of the servers measured.
func describeMachine(ctx context.Context, db *sql.DB, rdb *redis.Client) string {
	parts := []string{fmt.Sprintf("%d cores", runtime.NumCPU())}
	if m := firstField("/proc/cpuinfo", "model name"); m != "" {
		parts[0] = fmt.Sprintf("%d × %s", runtime.NumCPU(), m)
	}
	if m := firstField("/proc/meminfo", "MemTotal"); m != "" {
		var kb int64
		if _, err := fmt.Sscanf(m, "%d kB", &kb); err == nil {
			parts = append(parts, fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20)))
		}
	}
	if name := osName(); name != "" {
		parts = append(parts, name)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "Linux "+strings.TrimSpace(string(b)))
	}
	parts = append(parts, runtime.Version())
	var v string
	if db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v) == nil {
		parts = append(parts, "MySQL server "+v)
	}
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if r, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				parts = append(parts, "Redis "+r)
			}
		}
	}
	return strings.Join(parts, ", ")
}

// firstField returns the value of the first "key : value" line of file.
func firstField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func osName() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
