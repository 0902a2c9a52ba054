package cli

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// complete runs cobra's hidden __complete command, as the generated shell scripts do, and
// returns the offered names and the directive line.
func complete(t *testing.T, args ...string) (names []string, directive string) {
	t.Helper()
	out, _ := mustRun(t, "", append([]string{"__complete"}, args...)...)
	for _, l := range lines(out) {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		names = append(names, l)
	}
	return names, directive
}

func TestCompletionTopicsAndGroups(t *testing.T) {
	addr := startBroker(t)
	must := mustCLI(t, addr)
	must("", "topic", "create", "orders", "payments", "payouts", "--partitions", "1")

	// A consumer group with a committed offset, so that ListGroups names it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	must("x\n", "produce", "orders")
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if fs := cl.PollRecords(ctx, 1); fs.NumRecords() != 1 {
		t.Fatalf("poll: %v", fs.Errors())
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"topic", "describe", ""}, []string{"orders", "payments", "payouts"}},
		{[]string{"topic", "describe", "pay"}, []string{"payments", "payouts"}},
		{[]string{"topic", "delete", "payments", "pay"}, []string{"payouts"}}, // not twice
		{[]string{"produce", "o"}, []string{"orders"}},
		{[]string{"produce", "orders", ""}, nil}, // produce takes one topic
		{[]string{"consume", "orders", "p"}, []string{"payments", "payouts"}},
		{[]string{"group", "describe", ""}, []string{"billing"}},
		{[]string{"group", "reset-offsets", "billing", "--topic", "or"}, []string{"orders"}},
		{[]string{"bench", "produce", "--topic", "payo"}, []string{"payouts"}},
	} {
		got, directive := complete(t, append([]string{"-b", addr}, tt.args...)...)
		if !slices.Equal(got, tt.want) || directive != ":4" { // 4: ShellCompDirectiveNoFileComp
			t.Errorf("complete %q = %q %s, want %q :4", tt.args, got, directive, tt.want)
		}
	}
}

// TestCompletionDeadBroker: with no broker answering, completion offers nothing and returns
// promptly instead of hanging the shell.
func TestCompletionDeadBroker(t *testing.T) {
	start := time.Now()
	got, directive := complete(t, "-b", "127.0.0.1:1", "topic", "describe", "")
	if len(got) != 0 || directive != ":4" {
		t.Fatalf("complete against no broker = %q %s", got, directive)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("completion took %v", d)
	}
}
