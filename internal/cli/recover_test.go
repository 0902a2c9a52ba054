package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/server"
	"github.com/samsa-streaming/samsa/samsatest"
)

// TestMissingMetadataRefusedAndRecovered: with meta.json gone, serve refuses to start over the
// partition directories (instead of hiding them behind an empty cluster) and says how to
// recover; recover-metadata rebuilds the catalog, after which topics, records and committed
// offsets are back.
func TestMissingMetadataRefusedAndRecovered(t *testing.T) {
	dir := t.TempDir()
	b := samsatest.StartIn(t, dir)
	must := mustCLI(t, b.Addr())
	must("", "topic", "create", "orders", "--partitions", "3")
	must("a\nb\nc\nd\n", "produce", "orders")
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup("billing"),
		kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < 4 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	var before []topicDescribeJSON
	if err := json.Unmarshal([]byte(must("", "topic", "describe", "orders", "-o", "json")), &before); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(dir, "meta.json")); err != nil {
		t.Fatal(err)
	}
	_, err = server.Start(server.Config{DataDir: dir, KafkaAddr: "127.0.0.1:0", RegistryAddr: server.RegistryOff, HTTPAddr: server.HTTPOff, Broker: config.DefaultBroker()})
	if !errors.Is(err, broker.ErrMetadataMissing) || !strings.Contains(err.Error(), "samsa recover-metadata --data-dir "+dir) ||
		!strings.Contains(err.Error(), "orders-0") {
		t.Fatalf("start without meta.json: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); err == nil {
		t.Fatal("the refused start wrote a meta.json")
	}

	out, _ := mustRun(t, "", "recover-metadata", "--data-dir", dir, "-o", "json")
	var rep broker.RecoveryReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("recover-metadata output %q: %v", out, err)
	}
	var names []string
	for _, rt := range rep.Topics {
		names = append(names, rt.Name)
	}
	if !slices.Contains(names, "orders") || !slices.Contains(names, "__consumer_offsets") || rep.NextProducerID < 1000 {
		t.Fatalf("recovery report: %+v", rep)
	}
	if _, _, code := run(t, "", "recover-metadata", "--data-dir", dir); code != ExitFailure {
		t.Fatalf("second recover-metadata: exit %d, want a refusal (meta.json exists)", code)
	}

	b2 := samsatest.StartIn(t, dir)
	must = mustCLI(t, b2.Addr())
	var after []topicDescribeJSON
	if err := json.Unmarshal([]byte(must("", "topic", "describe", "orders", "-o", "json")), &after); err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || len(after[0].Partitions) != 3 {
		t.Fatalf("orders after recovery: %+v", after)
	}
	var ends, endsBefore int64
	for i := range 3 {
		ends += after[0].Partitions[i].LogEndOffset
		endsBefore += before[0].Partitions[i].LogEndOffset
	}
	if ends != 4 || endsBefore != 4 {
		t.Fatalf("records after recovery: %d (before: %d)", ends, endsBefore)
	}
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(b2.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	offs, err := adm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != 4 {
		t.Fatalf("committed offsets of billing after recovery sum to %d, want 4: %+v", committed, offs)
	}
}
