package broker_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/samsatest"
)

// TestListConfigResources: ListConfigResources v1 (Kafka 4.1, KIP-1142) lists, per type asked
// (all five when none is), the groups with config overrides (a group whose overrides were all
// deleted is gone), the broker and its loggers by node id, every topic, and no client-metrics
// resources; a type Kafka does not list is UNSUPPORTED_VERSION; v0 (ListClientMetricsResources)
// lists client-metrics resources only, of which Samsa has none. The group list survives a
// restart (it is the node's durable group configs).
func TestListConfigResources(t *testing.T) {
	dir := t.TempDir()
	b := samsatest.StartIn(t, dir)
	cl := client(t, b.Addr())
	list := func(version int16, types ...int8) (int16, string) {
		t.Helper()
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.Version, req.ResourceTypes = version, types
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range resp.ConfigResources {
			out = append(out, fmt.Sprintf("%d:%s", r.Type, r.Name))
		}
		return resp.ErrorCode, strings.Join(out, ",")
	}
	alterGroup := func(group string, op kmsg.IncrementalAlterConfigOp, value *string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceType(32), group
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = "share.delivery.count.limit", op, value
		r.Configs = append(r.Configs, c)
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Resources[0].ErrorCode; code != 0 {
			t.Fatalf("altering %s: %v", group, kerr.ErrorForCode(code))
		}
	}

	if code, got := list(1, 32); code != 0 || got != "" {
		t.Fatalf("groups before any config: %d %q, want none", code, got)
	}
	alterGroup("gb", kmsg.IncrementalAlterConfigOpSet, ptr("4"))
	alterGroup("ga", kmsg.IncrementalAlterConfigOpSet, ptr("3"))
	alterGroup("gone", kmsg.IncrementalAlterConfigOpSet, ptr("3"))
	alterGroup("gone", kmsg.IncrementalAlterConfigOpDelete, nil)
	createTopic(t, b.Addr(), "lcr-topic", 1, nil)

	if code, got := list(1, 32); code != 0 || got != "32:ga,32:gb" {
		t.Fatalf("groups: %d %q, want 32:ga,32:gb", code, got)
	}
	if code, got := list(1, 4, 8); code != 0 || got != "8:0,4:0" {
		t.Fatalf("brokers and loggers: %d %q, want 8:0,4:0", code, got)
	}
	code, got := list(1, 2)
	if code != 0 || !slices.Contains(strings.Split(got, ","), "2:lcr-topic") {
		t.Fatalf("topics: %d %q, want lcr-topic among them", code, got)
	}
	if code, got := list(1, 16); code != 0 || got != "" {
		t.Fatalf("client metrics: %d %q, want none", code, got)
	}
	code, all := list(1)
	if code != 0 || !strings.HasPrefix(all, "32:ga,32:gb,8:0,4:0,") || !strings.Contains(all, "2:lcr-topic") {
		t.Fatalf("all types: %d %q", code, all)
	}
	for _, types := range [][]int8{{1}, {32, 3}, {0}, {-1}} {
		if code, got := list(1, types...); code != kerr.UnsupportedVersion.Code || got != "" {
			t.Fatalf("types %v: %d %q, want UNSUPPORTED_VERSION and nothing", types, code, got)
		}
	}
	// v0 has no ResourceTypes field: client metrics only, of which there are none. (A client
	// pinned to v0 sends it.)
	v0 := kversion.V4_1_0()
	v0.SetMaxKeyVersion(kmsg.ListConfigResources.Int16(), 0)
	cl = client(t, b.Addr(), kgo.MaxVersions(v0))
	if code, got := list(0); code != 0 || got != "" {
		t.Fatalf("v0: %d %q, want none", code, got)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = samsatest.StartIn(t, dir)
	cl = client(t, b.Addr())
	if code, got := list(1, 32); code != 0 || got != "32:ga,32:gb" {
		t.Fatalf("groups after a restart: %d %q, want 32:ga,32:gb", code, got)
	}
}
