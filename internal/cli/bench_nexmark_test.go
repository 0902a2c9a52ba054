package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/samsa-streaming/samsa/samsatest"
)

func TestBenchNexmarkInProcess(t *testing.T) {
	out, _ := mustRun(t, "", "bench", "nexmark", "--events", "5000", "--queries", "q0,q2,q11", "-o", "json")
	var rows []nexmarkJSON
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r nexmarkJSON
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 3 || rows[0].Query != "q0" || rows[1].Query != "q2" || rows[2].Query != "q11" {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if r.Events != 5000 || r.CPUSeconds <= 0 || r.EventsPerCore <= 0 || r.FlinkPerCore <= 0 || r.GoalPerCore != 2*r.FlinkPerCore {
			t.Errorf("row %+v", r)
		}
	}
	if rows[0].Results != 5000 {
		t.Errorf("q0 passed %d of 5000 events", rows[0].Results)
	}
}

func TestBenchNexmarkFromTopic(t *testing.T) {
	b := samsatest.Start(t)
	out := mustCLI(t, b.Addr())("", "bench", "nexmark", "--from-topic", "--produce", "--events", "5000",
		"--partitions", "2", "--queries", "q1", "-o", "markdown")
	// 46 of every 50 events are bids; each partition holds 2,500 ids from a multiple of 50.
	if !strings.Contains(out, "| q1 Currency Conversion | 5000 | 4600 |") {
		t.Fatalf("markdown output:\n%s", out)
	}
	// The topic --produce filled is deleted at the end (no --keep-topics).
	if list := mustCLI(t, b.Addr())("", "topic", "list"); strings.Contains(list, "nexmark") {
		t.Fatalf("topic list after bench nexmark --produce:\n%s", list)
	}
}

func TestBenchNexmarkUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--events", "0"},
		{"--queries", "q6"},
		{"--produce"},
		{"-o", "xml"},
		{"--rate", "10000000", "--generators", "1"},
	} {
		_, stderr, code := run(t, "", append([]string{"bench", "nexmark"}, args...)...)
		if code != ExitUsage {
			t.Errorf("bench nexmark %v: exit %d, want usage error; stderr %s", args, code, stderr)
		}
	}
}
