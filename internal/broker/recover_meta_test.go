package broker

import (
	"strconv"
	"testing"
)

// FuzzPartitionDirName: any directory name is split without panicking, and a name accepted as
// TOPIC-N is exactly topic + "-" + N.
func FuzzPartitionDirName(f *testing.F) {
	for _, s := range []string{"orders-0", "my-topic-12", "-1", "t-01", "t--1", "t-2147483648", "__consumer_offsets-49", "a.b-0.abc-delete"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		topic, p, ok := partitionDirName(name)
		if !ok {
			return
		}
		if topic == "" || p < 0 || topic+"-"+strconv.Itoa(int(p)) != name {
			t.Fatalf("partitionDirName(%q) = %q, %d", name, topic, p)
		}
	})
}
