package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
)

// TestTopicDescribeShowsStorageDamage: a byte flipped in a record of an old segment while the
// broker is down is found by recovery (the checkpoint is gone, so every segment is checked)
// and marked corrupt; `samsa topic describe --http-addr` then shows the partition as damaged
// with the segment, the range and the reason (text and JSON), a healthy topic as ok, and
// /metrics carries samsa_partition_state and samsa_partition_corrupt_bytes for it.
func TestTopicDescribeShowsStorageDamage(t *testing.T) {
	dir := t.TempDir()
	scrubOff := samsatest.WithSetting("samsa.scrub.bytes.per.second", "0")
	b := samsatest.StartIn(t, dir, scrubOff)
	must := mustCLI(t, b.Addr())
	must("", "topic", "create", "dmg", "--partitions", "1", "--config", "segment.bytes=1024")
	must("", "topic", "create", "fine", "--partitions", "1")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("dmg"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // one batch each, about 100 bytes: several segments
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(strings.Repeat("v", 40) + string(rune('a'+i)))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	b.Close()

	pdir := filepath.Join(dir, "dmg-0")
	seg := filepath.Join(pdir, "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// The last byte of the second batch's last record value: framing and offsets stay intact,
	// the CRC fails, and batches follow it.
	first := 12 + int(uint32(data[8])<<24|uint32(data[9])<<16|uint32(data[10])<<8|uint32(data[11]))
	second := first + 12 + int(uint32(data[first+8])<<24|uint32(data[first+9])<<16|uint32(data[first+10])<<8|uint32(data[first+11]))
	data[second-2] ^= 0xff
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(pdir, "log.checkpoint")); err != nil {
		t.Fatal(err)
	}

	b = samsatest.StartIn(t, dir, scrubOff)
	httpAddr := strings.TrimPrefix(b.HTTPURL(), "http://")
	must = mustCLI(t, b.Addr())
	out := must("", "topic", "describe", "dmg", "--http-addr", httpAddr)
	for _, want := range []string{"Storage (node " + httpAddr + ")", "damaged", "00000000000000000000.log [", "CRC"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q:\n%s", want, out)
		}
	}
	if out := must("", "topic", "describe", "fine", "--http-addr", httpAddr); !strings.Contains(out, "all replicas ok") {
		t.Fatalf("healthy topic:\n%s", out)
	}
	if out := must("", "topic", "describe", "dmg"); strings.Contains(out, "Storage") {
		t.Fatalf("storage shown without --http-addr:\n%s", out)
	}

	var descs []topicDescribeJSON
	if err := json.Unmarshal([]byte(must("", "topic", "describe", "dmg", "--http-addr", httpAddr, "-o", "json")), &descs); err != nil {
		t.Fatal(err)
	}
	if len(descs) != 1 || descs[0].Storage == nil || len(descs[0].Storage.Unhealthy) != 1 {
		t.Fatalf("JSON: %+v", descs)
	}
	p := descs[0].Storage.Unhealthy[0]
	if p.Partition != 0 || p.State != "damaged" || p.CorruptBytes <= 0 || len(p.Damage) == 0 || p.Damage[0].Pos != int64(first) {
		t.Fatalf("JSON storage of dmg-0: %+v", p)
	}

	resp, err := http.Get(b.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(string(body), "\n")
	for _, want := range []string{
		`samsa_partition_state{partition="0",state="damaged",topic="dmg"} 1`,
		`samsa_partitions_by_state{state="damaged"} 1`,
	} {
		if !slices.Contains(lines, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(string(body), `samsa_partition_corrupt_bytes{partition="0",topic="dmg"}`) ||
		!strings.Contains(string(body), "samsa_open_files ") {
		t.Fatal("/metrics lacks samsa_partition_corrupt_bytes or samsa_open_files")
	}
}
