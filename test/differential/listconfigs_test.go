package differential

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/test/kafkaref"
)

// ListConfigResources (API 74, KIP-1142: Kafka 4.1's v1) and the tool that sends it,
// kafka-configs --describe --entity-type groups.

func init() {
	scenarios = append(scenarios, listConfigScenarios...)
}

var listConfigScenarios = []scenario{
	{name: "list-config-resources/types", about: "ListConfigResources v1 per resource type, all types, unknown types and v0 (groups with config overrides, a group whose overrides were deleted, brokers, topics, client metrics)",
		run: func(ctx context.Context, t *target) (string, error) {
			group, gone, topic := "lcr-group", "lcr-group-deleted", "lcr-topic"
			if err := setupTopic(ctx, t, topic, 1, nil); err != nil {
				return "", err
			}
			if err := alterGroupConfig(ctx, t, group, ptr("earliest")); err != nil {
				return "", err
			}
			if err := alterGroupConfig(ctx, t, gone, ptr("earliest")); err != nil {
				return "", err
			}
			if err := alterGroupConfig(ctx, t, gone, nil); err != nil {
				return "", err
			}
			// Other scenarios create topics and group configs concurrently: report only this
			// scenario's names, the broker ids (as NODE) and the types seen.
			mine := map[string]bool{group: true, gone: true, topic: true, strconv.Itoa(int(t.nodeID)): true}
			var out []string
			for _, types := range [][]int8{{32}, {2}, {4}, {8}, {16}, {4, 32}, nil, {1}, {64}, {0}} {
				s, err := listConfigResources(ctx, t, 1, types, mine)
				if err != nil {
					return "", err
				}
				out = append(out, fmt.Sprintf("v1 %v: %s", types, s))
			}
			s, err := listConfigResources(ctx, t, 0, nil, mine)
			if err != nil {
				return "", err
			}
			out = append(out, "v0: "+s)
			return strings.Join(out, " / "), nil
		}},
	{name: "list-config-resources/kafka-configs-groups", about: "kafka-configs --describe --entity-type groups, with and without --entity-name, after setting a group config (Kafka 4.1.1's ConfigCommand)",
		run: func(ctx context.Context, t *target) (string, error) {
			group := "lcr-tool-group"
			if err := alterGroupConfig(ctx, t, group, ptr("earliest")); err != nil {
				return "", err
			}
			named, err := configsTool(ctx, t, group, "--describe", "--entity-type", "groups", "--entity-name", group)
			if err != nil {
				return "", err
			}
			all, err := configsTool(ctx, t, group, "--describe", "--entity-type", "groups")
			if err != nil {
				return "", err
			}
			none, err := configsTool(ctx, t, "lcr-tool-unconfigured", "--describe", "--entity-type", "groups", "--entity-name", "lcr-tool-unconfigured")
			if err != nil {
				return "", err
			}
			return "named: " + named + " // all: " + all + " // a group without configs: " + none, nil
		}},
	{name: "list-config-resources/kafka-configs-client-metrics", about: "kafka-configs --describe --entity-type client-metrics (no client-metrics resources exist)",
		run: func(ctx context.Context, t *target) (string, error) {
			return configsTool(ctx, t, "", "--describe", "--entity-type", "client-metrics")
		}},
}

func ptr(s string) *string { return &s }

// alterGroupConfig sets share.auto.offset.reset of group (value nil deletes it), a group
// config both Kafka 4.1 and Samsa have.
func alterGroupConfig(ctx context.Context, t *target, group string, value *string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceType(32), group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "share.auto.offset.reset", value
	c.Op = kmsg.IncrementalAlterConfigOpSet
	if value == nil {
		c.Op = kmsg.IncrementalAlterConfigOpDelete
	}
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return err
	}
	if code := resp.Resources[0].ErrorCode; code != 0 {
		return fmt.Errorf("alter group %s: %s", group, codeName(code))
	}
	return nil
}

// listConfigResources sends ListConfigResources at version v and returns its error, the
// resource types seen (sorted) and the resources named in mine (broker ids as NODE).
func listConfigResources(ctx context.Context, t *target, v int16, types []int8, mine map[string]bool) (string, error) {
	vs := kversion.V4_1_0()
	vs.SetMaxKeyVersion(kmsg.ListConfigResources.Int16(), v) // the client sends its maximum
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addr), kgo.MaxVersions(vs))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	req := kmsg.NewPtrListConfigResourcesRequest()
	req.Version, req.ResourceTypes = v, types
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	seen := map[int8]bool{}
	var typesSeen []int
	var names []string
	for _, r := range resp.ConfigResources {
		if !seen[r.Type] {
			seen[r.Type] = true
			typesSeen = append(typesSeen, int(r.Type))
		}
		if mine[r.Name] {
			n := r.Name
			if n == strconv.Itoa(int(t.nodeID)) {
				n = "NODE"
			}
			names = append(names, fmt.Sprintf("%d:%s", r.Type, n))
		}
	}
	sort.Ints(typesSeen)
	sort.Strings(names)
	return fmt.Sprintf("%s types=%v mine=%v", codeName(resp.ErrorCode), typesSeen, names), nil
}

// configsTool runs Kafka 4.1.1's kafka-configs (kafka.admin.ConfigCommand) against t and
// returns its exit status and its output but for log lines, stack traces and the blocks of
// resources other than group (other scenarios' groups; all blocks when group is "").
func configsTool(ctx context.Context, t *target, group string, args ...string) (string, error) {
	cp, err := kafkaref.Classpath()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "java", append([]string{"-Xmx256m", "-cp", cp,
		"kafka.admin.ConfigCommand", "--bootstrap-server", t.addr}, args...)...)
	out, err := cmd.CombinedOutput()
	status := "exit 0"
	if ee, ok := err.(*exec.ExitError); ok {
		status = "exit " + strconv.Itoa(ee.ExitCode())
	} else if err != nil {
		return "", err
	}
	var lines []string
	other := false // in the block of another resource (other scenarios' groups)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Dynamic configs for ") || strings.HasPrefix(l, "All configs for ") {
			other = group == "" || !strings.Contains(l, " "+group+" ")
		}
		t := strings.TrimSpace(l)
		// Not the client's log lines, its configuration dump or the stack trace after an error.
		if other || t == "" || strings.HasPrefix(t, "[") || strings.Contains(t+" ", " = ") || strings.HasPrefix(t, "SLF4J") || strings.HasPrefix(t, "at ") ||
			strings.HasPrefix(t, "...") {
			continue
		}
		lines = append(lines, t)
	}
	return status + ": " + strings.Join(lines, " / "), nil
}

// TestKafkaConfigsDescribeGroups: Kafka 4.1.1's kafka-configs --describe --entity-type groups,
// with --entity-name and without (which lists the groups by ListConfigResources first), against
// a single Samsa node: both exit 0 and print the group config set before with IncrementalAlterConfigs.
func TestKafkaConfigsDescribeGroups(t *testing.T) {
	if err := kafkaref.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; .ci/run must install it", err)
		}
		t.Skip(err)
	}
	sb := samsatest.Start(t)
	tg := newTarget(t, "samsa", sb.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	group := "configs-tool-group"
	if err := alterGroupConfig(ctx, tg, group, ptr("earliest")); err != nil {
		t.Fatal(err)
	}
	want := "exit 0: Dynamic configs for group " + group + " are: / share.auto.offset.reset=earliest sensitive=false " +
		"synonyms={DYNAMIC_GROUP_CONFIG:share.auto.offset.reset=earliest}"
	for _, args := range [][]string{
		{"--describe", "--entity-type", "groups", "--entity-name", group},
		{"--describe", "--entity-type", "groups"},
	} {
		got, err := configsTool(ctx, tg, group, args...)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("kafka-configs %v:\n got %s\nwant %s", args, got, want)
		}
	}
}
