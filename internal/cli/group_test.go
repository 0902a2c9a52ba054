package cli

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// describeGroup returns the JSON description of one group.
func describeGroup(t *testing.T, addr, group string) groupDescribeJSON {
	t.Helper()
	var gs []groupDescribeJSON
	if err := json.Unmarshal([]byte(mustCLI(t, addr)("", "group", "describe", group, "-o", "json")), &gs); err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 {
		t.Fatalf("described %d groups", len(gs))
	}
	return gs[0]
}

func TestGroupLagAndReset(t *testing.T) {
	addr := startBroker(t)
	samsa, must := cli(t, addr), mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "2")
	must("1\n2\n3\n4\n5\n6\n", "produce", "t", "--partition", "0")
	must("a\nb\nc\nd\n", "produce", "t", "--partition", "1")

	got := lines(must("", "consume", "t", "--group", "g", "--from-beginning", "--count", "10"))
	if len(got) != 10 {
		t.Fatalf("group consume got %d records: %q", len(got), got)
	}

	// All consumed and committed: lag 0.
	out := must("", "group", "describe", "g")
	if !strings.Contains(out, "Group: g  State: Empty") || !strings.Contains(out, "Total lag: 0") {
		t.Fatalf("describe after consume:\n%s", out)
	}
	rows := fields(out)
	var offs [][]string
	for i, r := range rows {
		if len(r) > 0 && r[0] == "TOPIC" {
			offs = rows[i : i+3]
		}
	}
	wantOffs := [][]string{
		{"TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID"},
		{"t", "0", "6", "6", "0", "-"},
		{"t", "1", "4", "4", "0", "-"},
	}
	if !equalRows(offs, wantOffs) {
		t.Fatalf("offsets table:\n%s\nwant %v", out, wantOffs)
	}

	// Three more records: lag 3.
	must("x\ny\nz\n", "produce", "t", "--partition", "0")
	d := describeGroup(t, addr, "g")
	if d.TotalLag != 3 || d.Offsets[0].Lag != 3 || d.Offsets[0].LogEnd != 9 || d.Offsets[1].Lag != 0 {
		t.Fatalf("lag after producing 3: %+v", d)
	}

	if out := must("", "group", "list"); !equalRows(fields(out), [][]string{{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"}, {"g", "Empty", "consumer", fields(out)[1][3]}}) {
		t.Fatalf("group list:\n%s", out)
	}
	var listed []groupListJSON
	if err := json.Unmarshal([]byte(must("", "group", "list", "-o", "json")), &listed); err != nil || len(listed) != 1 || listed[0].Group != "g" {
		t.Fatalf("group list -o json: %+v %v", listed, err)
	}

	// Dry run (the default) plans but does not commit.
	out, stderr, code := samsa("", "group", "reset-offsets", "g", "--topic", "t", "--to-earliest")
	if code != ExitOK || !strings.Contains(stderr, "Dry run") {
		t.Fatalf("dry run: code %d stderr %q", code, stderr)
	}
	wantPlan := [][]string{
		{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"},
		{"g", "t", "0", "6", "0"},
		{"g", "t", "1", "4", "0"},
	}
	if !equalRows(fields(out), wantPlan) {
		t.Fatalf("dry-run plan:\n%s", out)
	}
	if d := describeGroup(t, addr, "g"); d.TotalLag != 3 {
		t.Fatalf("dry run changed the lag to %d", d.TotalLag)
	}

	// Execute.
	must("", "group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--execute")
	if d := describeGroup(t, addr, "g"); d.TotalLag != 13 || d.Offsets[0].Committed != 0 || d.Offsets[1].Committed != 0 {
		t.Fatalf("after reset to earliest: %+v", d)
	}

	// Each way of choosing offsets, on one partition, as JSON.
	plan := func(args ...string) resetPlanJSON {
		t.Helper()
		var p []resetPlanJSON
		out := must("", append([]string{"group", "reset-offsets", "g", "--topic", "t:0", "-o", "json", "--execute"}, args...)...)
		if err := json.Unmarshal([]byte(out), &p); err != nil || len(p) != 1 {
			t.Fatalf("%v: %q %v", args, out, err)
		}
		return p[0]
	}
	for _, tc := range []struct {
		args    []string
		current int64
		want    int64
	}{
		{[]string{"--to-latest"}, 0, 9},
		{[]string{"--shift-by", "-4"}, 9, 5},
		{[]string{"--shift-by", "100"}, 5, 9}, // clamped to the end
		{[]string{"--to-offset", "2"}, 9, 2},
		{[]string{"--to-offset", "50"}, 2, 9}, // clamped
		{[]string{"--to-datetime", "0"}, 9, 0},
		{[]string{"--to-datetime", time.Now().Add(time.Hour).Format(time.RFC3339)}, 0, 9},
	} {
		p := plan(tc.args...)
		if p.Current != tc.current || p.New != tc.want || p.Partition != 0 {
			t.Fatalf("%v: plan %+v, want current %d new %d", tc.args, p, tc.current, tc.want)
		}
	}

	// A group with an active member refuses resets and deletes.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-b", addr, "consume", "t", "--group", "g"}, Streams{Getenv: func(string) string { return "" }})
	}()
	waitFor(t, "a stable member", func() bool {
		d := describeGroup(t, addr, "g")
		return d.State == "Stable" && len(d.Members) == 1
	})
	d = describeGroup(t, addr, "g")
	if m := d.Members[0]; m.ClientID != "samsa-cli" || !slices.Equal(m.Assigned["t"], []int32{0, 1}) {
		t.Fatalf("member: %+v", m)
	}
	if out := must("", "group", "describe", "g"); !strings.Contains(out, "t[0,1]") || !strings.Contains(out, "MEMBER-ID") {
		t.Fatalf("describe with member:\n%s", out)
	}
	_, stderr, code = samsa("", "group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--execute")
	if code != ExitFailure || !strings.Contains(stderr, "active member") {
		t.Fatalf("reset with a member: code %d stderr %q", code, stderr)
	}
	_, stderr, code = samsa("", "group", "delete", "g")
	if code != ExitFailure || !strings.Contains(stderr, "active members") {
		t.Fatalf("delete with a member: code %d stderr %q", code, stderr)
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("background consumer exit %d", code)
	}

	// Delete.
	if out := must("", "group", "delete", "g"); !strings.Contains(out, "Deleted group g.") {
		t.Fatalf("delete: %q", out)
	}
	if _, stderr, code := samsa("", "group", "describe", "g"); code != ExitFailure || !strings.Contains(stderr, "group g does not exist") {
		t.Fatalf("describe deleted group: code %d stderr %q", code, stderr)
	}
	if _, stderr, code := samsa("", "group", "delete", "g"); code != ExitFailure || !strings.Contains(stderr, "group g does not exist") {
		t.Fatalf("delete deleted group: code %d stderr %q", code, stderr)
	}
}

func TestGroupResetErrors(t *testing.T) {
	addr := startBroker(t)
	samsa, must := cli(t, addr), mustCLI(t, addr)
	must("", "topic", "create", "t", "--partitions", "1")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "nope", "--to-earliest"}, "topic nope does not exist"},
		{[]string{"--topic", "t:3", "--to-earliest"}, "has no partition 3"},
		{[]string{"--topic", "t", "--shift-by", "1"}, "no committed offset"},
	} {
		_, stderr, code := samsa("", append([]string{"group", "reset-offsets", "fresh"}, tc.args...)...)
		if code != ExitFailure || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: code %d stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}
