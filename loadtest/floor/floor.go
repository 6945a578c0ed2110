// Package floor measures the physical floor of the machine a load test
// runs on, once, before the load: what one loopback HTTP request and its
// answer, one Redis EVALSHA of a trivial script and one durable commit
// cost, one after another on an otherwise idle system, in latency and in
// CPU. A purchase cannot cost less than an HTTP exchange, an EVALSHA and a
// commit, nor a stock read less than an HTTP exchange; the report puts
// the system's figures against these.
package floor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"livecommerce/loadtest/cpucost"
	"livecommerce/loadtest/lanes"
	"livecommerce/loadtest/procstat"
)

// Probe is what one kind of round trip cost.
type Probe struct {
	Name   string // what was measured
	Detail string // how
	Ops    int64  // round trips timed
	// P50 and P99 are the round trip's latency, from the client's call
	// to its return.
	P50, P99 time.Duration
	// ClientCPU is this process's CPU per round trip: the client's side.
	ClientCPU time.Duration
	// ServerCPU is the serving processes' CPU per round trip (the group
	// ServerGroup of cpucost), when they could be told apart by name
	// (ServerSeen): not when the server runs in this process, as in tests.
	ServerGroup string
	ServerCPU   time.Duration
	ServerSeen  bool
	// MachineCPU is what every CPU of the machine spent per round trip,
	// the kernel's interrupt work and every other process included.
	MachineCPU time.Duration
	Err        string // why the probe did not run or stopped; "" when it ran
}

// OK reports whether the probe measured anything.
func (p Probe) OK() bool { return p.Err == "" && p.Ops > 0 }

// Floor is the machine's floor.
type Floor struct {
	Each   time.Duration // how long each probe ran
	HTTP   Probe
	Script Probe // Redis EVALSHA
	Commit Probe
}

// Targets are what the probes talk to. An empty one is skipped.
type Targets struct {
	// HTTPBase (http://host:port) answers GET HTTPPath with 200: the
	// static JSON server, whose answer is from memory.
	HTTPBase, HTTPPath string
	Redis              *redis.Client
	DB                 *sql.DB
	// Table is the scratch table the commits go to, in DB's database:
	// created, and dropped afterwards. It must not exist.
	Table string
}

// warmup round trips come before the timed ones: connections open,
// caches fill.
const warmup = 20

// maxOps bounds the latencies kept per probe.
const maxOps = 200_000

var tableName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Measure runs the probes one after another, each for about each. A probe
// that fails says why in its Err; the others still run.
func Measure(ctx context.Context, t Targets, each time.Duration) Floor {
	f := Floor{Each: each}
	f.HTTP = measureHTTP(ctx, t, each)
	f.Script = measureScript(ctx, t.Redis, each)
	f.Commit = measureCommit(ctx, t.DB, t.Table, each)
	return f
}

func measureHTTP(ctx context.Context, t Targets, each time.Duration) Probe {
	p := Probe{Name: "HTTP request and answer", ServerGroup: cpucost.StaticServer,
		Detail: "GET of a stock object from the static JSON server's memory, on one kept-alive loopback connection, with the load generator's own client"}
	if t.HTTPBase == "" {
		p.Err = "no static server to ask (LOADGEN_STATIC_URL is empty)"
		return p
	}
	ls, err := lanes.New(t.HTTPBase, 1, 1, 5*time.Second)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	done := make(chan Probe, 1)
	// The probe runs on the lane's own goroutine, the one that owns the
	// connection, as every request of the load does.
	ls.Submit(lanes.Job{Run: func(l *lanes.Lane, _ int64, _ time.Time) {
		req := []byte("GET " + t.HTTPPath + " HTTP/1.1\r\nHost: " + l.Addr() + "\r\nUser-Agent: livecommerce-loadgen\r\nAccept: application/json\r\n\r\n")
		done <- run(ctx, p, each, func() error {
			a := l.Do(req)
			switch {
			case a.Fail != "":
				return fmt.Errorf("GET %s: %s", t.HTTPPath, a.Fail)
			case a.Status != 200:
				return fmt.Errorf("GET %s: status %d", t.HTTPPath, a.Status)
			}
			return nil
		})
	}})
	ls.Close()
	return <-done
}

func measureScript(ctx context.Context, rdb *redis.Client, each time.Duration) Probe {
	p := Probe{Name: "Redis EVALSHA", ServerGroup: cpucost.Redis,
		Detail: "EVALSHA of `return 1` (no keys), one connection, go-redis as the origins use it"}
	if rdb == nil {
		p.Err = "no Redis"
		return p
	}
	sha, err := rdb.ScriptLoad(ctx, "return 1").Result()
	if err != nil {
		p.Err = "SCRIPT LOAD: " + err.Error()
		return p
	}
	return run(ctx, p, each, func() error { return rdb.EvalSha(ctx, sha, nil).Err() })
}

func measureCommit(ctx context.Context, db *sql.DB, table string, each time.Duration) (p Probe) {
	p = Probe{Name: "durable commit", ServerGroup: cpucost.MariaDB,
		Detail: "INSERT of one row committed on its own (autocommit: one round trip, one commit) into a scratch table, one connection"}
	if !tableName.MatchString(table) {
		p.Err = fmt.Sprintf("scratch table %.70q is not a plain lower-case name", table)
		return p
	}
	if db == nil {
		p.Err = "no database"
		return p
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		p.Err = "connect: " + err.Error()
		return p
	}
	defer conn.Close()
	var flush, syncBinlog, logBin sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT @@innodb_flush_log_at_trx_commit, @@sync_binlog, @@log_bin").Scan(&flush, &syncBinlog, &logBin); err == nil {
		p.Detail += fmt.Sprintf("; innodb_flush_log_at_trx_commit=%s, log_bin=%s, sync_binlog=%s", flush.String, logBin.String, syncBinlog.String)
		if flush.String != "1" {
			p.Detail += " (the redo log is not flushed at every commit: not durable, and cheaper than a durable one)"
		}
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE "+table+" (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB"); err != nil {
		p.Err = "create the scratch table: " + err.Error()
		return p
	}
	defer func() {
		// Dropped even when the run is being stopped.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(dctx, "DROP TABLE IF EXISTS "+table); err != nil && p.Err == "" {
			p.Err = "drop the scratch table " + table + ": " + err.Error()
		}
	}()
	insert := "INSERT INTO " + table + " (v) VALUES (1)"
	p = run(ctx, p, each, func() error {
		_, err := conn.ExecContext(ctx, insert)
		return err
	})
	return p
}

// run times op for about each, after a warm-up, and reads the CPU the
// client, the server's processes and the machine spent meanwhile.
func run(ctx context.Context, p Probe, each time.Duration, op func() error) Probe {
	for range warmup {
		if err := op(); err != nil {
			p.Err = err.Error()
			return p
		}
	}
	lat := make([]time.Duration, 0, 1<<14)
	// The snapshots of every process are taken outside the client's and
	// the machine's readings: reading /proc costs more than a round trip.
	before := procstat.Take()
	self0 := procstat.SelfCPU()
	mach0, machErr := procstat.MachineBusy()
	start := time.Now()
	var err error
	for time.Since(start) < each && len(lat) < maxOps && ctx.Err() == nil {
		t0 := time.Now()
		if err = op(); err != nil {
			break
		}
		lat = append(lat, time.Since(t0))
	}
	self1 := procstat.SelfCPU()
	mach1, machErr1 := procstat.MachineBusy()
	after := procstat.Take()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		p.Err = err.Error()
	}
	if len(lat) == 0 {
		if p.Err == "" {
			p.Err = "no round trip completed"
		}
		return p
	}
	n := time.Duration(len(lat))
	p.Ops = int64(len(lat))
	slices.Sort(lat)
	p.P50, p.P99 = quantile(lat, 0.50), quantile(lat, 0.99)
	p.ClientCPU = (self1 - self0) / n
	if errors.Join(machErr, machErr1) == nil {
		p.MachineCPU = (mach1 - mach0) / n
	}
	wall := after.Time().Sub(before.Time()).Seconds()
	for _, g := range procstat.Between(before, after) {
		if cpucost.GroupOf(g.Name) == p.ServerGroup {
			p.ServerSeen = true
			p.ServerCPU += time.Duration(g.Cores * wall * float64(time.Second) / float64(n))
		}
	}
	return p
}

// quantile is the q-quantile of sorted latencies (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Cost is the least one operation of kind k can cost on this machine, in
// CPU as the report charges the system (the serving side of the HTTP
// exchange, since the load generator's CPU is not the system's; both sides
// of the Redis and database round trips, since an origin is their client)
// and in latency (the round trips one after another). ok is false when a
// probe it needs did not run, or its server could not be told apart.
func (f Floor) Cost(k cpucost.Kind) (cpu, latency time.Duration, ok bool) {
	h, s, c := f.HTTP, f.Script, f.Commit
	switch k {
	case cpucost.Purchase:
		if !h.OK() || !h.ServerSeen || !s.OK() || !s.ServerSeen || !c.OK() || !c.ServerSeen {
			return 0, 0, false
		}
		return h.ServerCPU + s.ClientCPU + s.ServerCPU + c.ClientCPU + c.ServerCPU, h.P50 + s.P50 + c.P50, true
	case cpucost.Read:
		if !h.OK() || !h.ServerSeen {
			return 0, 0, false
		}
		return h.ServerCPU, h.P50, true
	}
	return 0, 0, false
}
