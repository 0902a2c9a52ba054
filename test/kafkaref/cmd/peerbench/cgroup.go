package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// limitCPU holds the broker's processes to cpus CPUs with a cgroup CPU quota (cgroup v1's cpu
// controller or cgroup v2's cpu.max), from now until the returned function removes the cgroup
// (after the processes exited). On a machine where the clients share the broker's cores, the
// rate then measures what the broker does with a fixed CPU budget rather than the clients.
func limitCPU(b *broker, cpus float64) (func(), error) {
	const period = 100000 // µs
	quota := strconv.Itoa(int(cpus * period))
	name := fmt.Sprintf("peerbench-%s-%d", b.name, b.processes()[0])
	var dir string
	var files map[string]string
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err == nil {
		dir = filepath.Join("/sys/fs/cgroup/cpu", name)
		files = map[string]string{"cpu.cfs_period_us": strconv.Itoa(period), "cpu.cfs_quota_us": quota}
	} else if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dir = filepath.Join("/sys/fs/cgroup", name)
		files = map[string]string{"cpu.max": quota + " " + strconv.Itoa(period)}
	} else {
		return nil, fmt.Errorf("-broker-cpus: no cgroup cpu controller under /sys/fs/cgroup")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("-broker-cpus: %w", err)
	}
	remove := func() { os.Remove(dir) }
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			remove()
			return nil, fmt.Errorf("-broker-cpus: %s: %w", f, err)
		}
	}
	for _, pid := range b.processes() {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			remove()
			return nil, fmt.Errorf("-broker-cpus: moving %d: %w", pid, err)
		}
	}
	return remove, nil
}
