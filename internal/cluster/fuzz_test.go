package cluster

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseVoters: --controller-voters never panics, and what it accepts round-trips.
func FuzzParseVoters(f *testing.F) {
	for _, s := range []string{
		"1@127.0.0.1:19192,2@127.0.0.1:29192,3@127.0.0.1:39192",
		"1@[::1]:9000", "1@host:65535", "x@h:1", "1@h", "1@:5", "1@h:1,1@h:2", "", ",,", "-1@h:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vs, err := ParseVoters(s)
		if err != nil {
			return
		}
		var parts []string
		for _, v := range vs {
			if v.Port < 1 || v.Port > 65534 || v.Host == "" || v.ID < 0 {
				t.Fatalf("accepted %+v from %q", v, s)
			}
			parts = append(parts, strconv.Itoa(int(v.ID))+"@"+strings.TrimPrefix(strings.TrimPrefix(v.PeerURL(), "http://"), ""))
		}
		again, err := ParseVoters(strings.Join(parts, ","))
		if err != nil || len(again) != len(vs) {
			t.Fatalf("round trip of %q: %v %v", s, again, err)
		}
		for i := range vs {
			if again[i] != vs[i] {
				t.Fatalf("round trip of %q: %+v != %+v", s, again[i], vs[i])
			}
		}
	})
}

// FuzzSnapshotKeys: whatever bytes sit under the prefix (a corrupt or foreign key), reading
// them into a snapshot never panics; an unreadable value is reported, not half-applied.
func FuzzSnapshotKeys(f *testing.F) {
	f.Add("partitions/t/0", []byte(`{"topic":"t","partition":0,"replicas":[1,2],"isr":[1],"leader":1}`))
	f.Add("brokers/1", []byte(`{"id":1,"host":"h","port":9092}`))
	f.Add("topics/t", []byte(`{"name":"t","id":"00112233445566778899aabbccddeeff","partitions":1}`))
	f.Add("topics/t", []byte(`{"name":"t","id":"zz"}`))
	f.Add("unclean/x", []byte("1"))
	f.Add("drain/2", []byte("1"))
	f.Add("drain/-5", []byte("1"))
	f.Add("drain/99999999999", []byte(""))
	f.Add("voters/4", []byte("8e9e05c52164694d"))
	f.Add("partitions/a/b/c", []byte("{}"))
	f.Add("controller/1", []byte("nope"))
	f.Add("scram/SCRAM-SHA-256/alice", []byte(`{"user":"alice","mechanism":"SCRAM-SHA-256","salt":"c2FsdA==","iterations":4096}`))
	f.Add("acls/2/3/t/4/3/User:a/*", []byte(`{"resourceType":2,"resourceName":"t","patternType":3,"principal":"User:a","host":"*","operation":4,"permission":3}`))
	f.Add("quotas/name=a/-", []byte(`{"user":"a","userSet":true,"values":{"producer_byte_rate":1e6}}`))
	f.Add("quotas/x", []byte(`{"values":null}`))
	f.Add("groupconfigs/orders%2Feu", []byte(`{"group":"orders/eu","configs":{"share.delivery.count.limit":"3"}}`))
	f.Add("groupconfigs/x", []byte(`{"configs":7}`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		b := newSnapshotBuilder()
		size := func() int {
			return len(b.s.Partitions) + len(b.s.Brokers) + len(b.s.Topics) + len(b.s.SCRAM) + len(b.s.ACLs) + len(b.s.Quotas) + len(b.s.GroupConfigs)
		}
		before := size()
		if err := b.put(kv{key: key, value: value, modRev: 5, createRev: 5}); err != nil {
			if after := size(); after != before {
				t.Fatalf("key %q: error %v but the snapshot changed", key, err)
			}
		}
		c := b.finish(5)
		if len(c.SCRAM)+len(c.ACLs)+len(c.Quotas) != len(b.s.SCRAM)+len(b.s.ACLs)+len(b.s.Quotas) {
			t.Fatalf("key %q: finish lost security records", key)
		}
		if len(c.GroupConfigs) != len(b.s.GroupConfigs) {
			t.Fatalf("key %q: finish lost group configs", key)
		}
		b.del(key)
		s := b.finish(5)
		if len(s.SCRAM)+len(s.ACLs)+len(s.Quotas) != 0 {
			t.Fatalf("key %q: a security record outlived the deletion of its key", key)
		}
		if len(s.GroupConfigs) != 0 {
			t.Fatalf("key %q: group configs outlived the deletion of their key", key)
		}
		Reconcile(s, Policy{})
		for _, p := range s.Partitions {
			_ = p.Key().String()
			ElectPreferred(s, p)
			ElectUnclean(s, p, 2)
			AlterISR(s, p, ISRRequest{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: p.Replicas}, 2)
		}
	})
}
