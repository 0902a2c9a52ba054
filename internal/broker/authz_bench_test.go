package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/security"
)

// BenchmarkProduceAuthorizer runs produce requests through a connection's dispatch (the
// authorizer's check, then the Produce handler: validation, offset assignment, the append)
// without the network, side by side without an authorizer and with the ACL authorizer and
// 1,000 ACLs (the producer's WRITE among 999 of other principals: literal and prefixed
// topics, groups, host DENYs). One request carries one batch of 50 records of 200 bytes,
// acks=1, pagecache durability, as the Kafka paper's producer. It reports CPU ns per record;
// -benchmem's allocs/op is per request (50 records).
func BenchmarkProduceAuthorizer(b *testing.B) {
	for _, mode := range []string{"no-authorizer", "acl-1000"} {
		b.Run(mode, func(b *testing.B) {
			benchProduceAuthorizer(b, mode != "no-authorizer")
		})
	}
}

// thousandProduceACLs are the producer's WRITE on topic bench among 999 ACLs of other
// principals: literal and prefixed topics, groups, and 250 host DENYs of User:* on bench.
func thousandProduceACLs() []security.ACL {
	acls := []security.ACL{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "bench", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:producer", Host: "*", Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow}}
	for i := range 999 {
		a := security.ACL{ResourceType: kmsg.ACLResourceTypeTopic, PatternType: kmsg.ACLResourcePatternTypeLiteral,
			Principal: fmt.Sprintf("User:u%d", i%50), Host: "*", Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow}
		switch i % 4 {
		case 0:
			a.ResourceName = fmt.Sprintf("topic-%d", i)
		case 1:
			a.ResourceName, a.PatternType, a.Operation = fmt.Sprintf("team%d-", i), kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationRead
		case 2:
			a.ResourceType, a.ResourceName, a.Operation = kmsg.ACLResourceTypeGroup, fmt.Sprintf("group-%d", i), kmsg.ACLOperationRead
		case 3:
			a.ResourceName, a.Principal, a.Host, a.Permission = "bench", "User:*", fmt.Sprintf("10.0.%d.%d", i/256, i%256), kmsg.ACLPermissionTypeDeny
		}
		acls = append(acls, a)
	}
	return acls
}

func benchProduceAuthorizer(b *testing.B, authorizer bool) {
	const perBatch = 50
	sec, err := security.NewNode(context.Background(), security.Config{Authorizer: authorizer})
	if err != nil {
		b.Fatal(err)
	}
	if authorizer {
		if err := sec.CreateACLs(context.Background(), thousandProduceACLs()); err != nil {
			b.Fatal(err)
		}
	}
	settings := config.DefaultBroker()
	if err := settings.Set("samsa.durability", "pagecache"); err != nil {
		b.Fatal(err)
	}
	br, err := New(Config{DataDir: b.TempDir(), Settings: settings, Security: sec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	if _, err := br.createTopic(topicSpec{name: "bench", partitions: 1, configs: map[string]string{}}); err != nil {
		b.Fatal(err)
	}
	bl := records.NewBuilder(records.CompressionNone)
	val := make([]byte, 200)
	for range perBatch {
		if err := bl.Add(time.Now().UnixMilli(), nil, val); err != nil {
			b.Fatal(err)
		}
	}
	batch, err := bl.Build(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &conn{b: br, remote: "10.1.2.3:5000", ctx: ctx, cancel: cancel}
	c.sec.principal, c.sec.ip, c.sec.authenticated = "User:producer", "10.1.2.3", true
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bench"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = make([]byte, len(batch))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r := &request{kreq: req, c: c, done: make(chan kmsg.Response, 1)}
	r.hdr.Key, r.hdr.Version = kmsg.Produce.Int16(), req.Version
	produce := func() {
		copy(req.Topics[0].Partitions[0].Records, batch) // the append rewrites the base offset in place
		r.post, r.at = nil, time.Now()
		if !c.dispatch(r) {
			b.Fatal("dispatch failed")
		}
		resp := (<-r.done).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("produce: error code %d", code)
		}
	}
	produce() // warm up: the log's first segment
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		produce()
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perBatch), "cpu-ns/rec")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/rec")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAuthorizeProduce1000ACLs is the authorizer's share of BenchmarkProduceAuthorizer
// alone: the check of a one-topic produce request against the same 1,000 ACLs.
func BenchmarkAuthorizeProduce1000ACLs(b *testing.B) {
	sec, err := security.NewNode(context.Background(), security.Config{Authorizer: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := sec.CreateACLs(context.Background(), thousandProduceACLs()); err != nil {
		b.Fatal(err)
	}
	br, err := New(Config{DataDir: b.TempDir(), Settings: config.DefaultBroker(), Security: sec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	c := &conn{b: br}
	c.sec.principal, c.sec.ip = "User:producer", "10.1.2.3"
	req := kmsg.NewPtrProduceRequest()
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bench"
	rt.Partitions = append(rt.Partitions, kmsg.NewProduceRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	r := &request{kreq: req, c: c}
	r.hdr.Key = kmsg.Produce.Int16()
	b.ReportAllocs()
	for b.Loop() {
		if br.authorizeRequest(r) || r.post != nil {
			b.Fatal("refused")
		}
	}
}
