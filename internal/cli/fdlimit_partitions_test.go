//go:build linux

package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestServeManyPartitionsUnderDescriptorLimit: a `samsa serve` process limited to 256
// descriptors holds a topic of 2,500 partitions and serves it: a record produced to every
// partition, twice, and all of them consumed back with one consumer (fetches that span every
// partition). Partitions hold no descriptor while idle (commitlog.Files caps the open segment
// files at half the limit), so this needs no raised limit; before, each partition held 3
// descriptors and the topic could not even be created. The ratio is that of 10,000
// partitions in the usual default of 1,024 descriptors, which
// SAMSA_TEST_PARTITIONS=10000 SAMSA_TEST_NOFILE=1024 runs literally (minutes: creating a
// partition costs several fsyncs).
func TestServeManyPartitionsUnderDescriptorLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("creates thousands of partitions")
	}
	parts, nofile := 2500, 256
	for env, p := range map[string]*int{"SAMSA_TEST_PARTITIONS": &parts, "SAMSA_TEST_NOFILE": &nofile} {
		if v := os.Getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: %v", env, err)
			}
			*p = n
		}
	}
	dir := t.TempDir()
	props := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(props, []byte("offsets.topic.num.partitions=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	args := []string{"serve", "--config", props, "--data-dir", filepath.Join(dir, "data"),
		"--kafka-addr", addr, "--registry-addr", "off", "--http-addr", "off"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServeProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), childServeEnv+"="+strconv.Itoa(nofile), "SAMSA_CHILD_ARGS="+strings.Join(args, "\x1f"))
	var stderr syncBuffer
	cmd.Stderr, cmd.Stdout = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(testTimeout):
			cmd.Process.Kill()
		}
		if t.Failed() {
			out := stderr.String()
			if len(out) > 20000 {
				out = out[len(out)-20000:]
			}
			t.Logf("child output (tail):\n%s", out)
		}
	}()
	waitFor(t, "the child broker to serve", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("child exited: %v", err)
		default:
		}
		return strings.Contains(stderr.String(), "samsa is serving")
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProduceRequestTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32((5 * time.Minute).Milliseconds()))
	start := time.Now()
	res, err := adm.CreateTopic(ctx, int32(parts), 1, nil, "many")
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create %d partitions: %v", parts, err)
	}
	t.Logf("created %d partitions in %v", parts, time.Since(start))

	for round := range 2 {
		start = time.Now()
		recs := make([]*kgo.Record, parts)
		for p := range recs {
			recs[p] = &kgo.Record{Topic: "many", Partition: int32(p), Value: []byte(fmt.Sprintf("%d/%d", round, p))}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("round %d: produce: %v", round, err)
		}
		t.Logf("round %d: produced to %d partitions in %v", round, parts, time.Since(start))
	}

	start = time.Now()
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("many"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := make(map[string]bool, 2*parts)
	for len(seen) < 2*parts {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(seen), 2*parts, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("/%d", r.Partition)
			if !strings.HasSuffix(string(r.Value), want) || r.Offset > 1 {
				t.Fatalf("partition %d offset %d holds %q", r.Partition, r.Offset, r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	t.Logf("consumed %d records in %v", len(seen), time.Since(start))

	out := stderr.String()
	if strings.Contains(out, "too many open files") {
		t.Fatal("the child ran out of descriptors")
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)); err == nil {
		t.Logf("the child holds %d descriptors (limit %d) with %d partitions", len(fds), nofile, parts)
	}
}
