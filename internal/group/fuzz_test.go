package group

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// FuzzLoad feeds two arbitrary __consumer_offsets records (flags bit 0 and 1
// make the values tombstones; bit 2 makes the first a transactional record of
// producer 1, bits 3 and 4 end that transaction with a commit or abort marker
// after the second record) to Start, then exercises the loaded state: every
// read API, a heartbeat and a join per member, and two hours of timers.
// Nothing may panic; corrupt records are skipped.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 []byte, flags uint8) {
		if flags&1 != 0 {
			v1 = nil
		}
		if flags&2 != 0 {
			v2 = nil
		}
		store := NewMemStore()
		first := KV{Key: k1, Value: v1}
		if flags&4 != 0 {
			first.Txn, first.ProducerID = TxnRecord, 1
		}
		store.Put(0, first, KV{Key: k2, Value: v2})
		if flags&8 != 0 {
			store.Put(0, KV{Txn: TxnCommit, ProducerID: 1})
		}
		if flags&16 != 0 {
			store.Put(0, KV{Txn: TxnAbort, ProducerID: 1})
		}
		clock := NewFakeClock(epoch)
		c, err := New(Config{NumPartitions: 1, MinSessionTimeout: time.Millisecond, MaxSessionTimeout: time.Hour, OffsetsRetention: time.Hour},
			store, Options{Logger: quietLogger(), Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		ctx := context.Background()
		ignore := func(kmsg.Response) {}

		lg := kmsg.NewPtrListGroupsRequest()
		lg.Version = 5
		c.Handle(ctx, lg, ignore)
		for _, gi := range c.Groups() {
			dg := kmsg.NewPtrDescribeGroupsRequest()
			dg.Version = 5
			dg.Groups = []string{gi.Group}
			c.Handle(ctx, dg, ignore)
			of := kmsg.NewPtrOffsetFetchRequest()
			of.Version = 8
			of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: gi.Group}}
			c.Handle(ctx, of, ignore)

			c.lock()
			g := c.mu.groups[gi.Group]
			var ids []string
			var inst []*string
			for _, m := range g.order {
				ids = append(ids, m.id)
				inst = append(inst, m.instanceID)
			}
			c.unlock()
			for i, id := range ids {
				hb := heartbeatReq(4, gi.Group, id, gi.Generation)
				hb.InstanceID = inst[i]
				c.Handle(ctx, hb, ignore)
				sy := syncReq(5, gi.Group, id, gi.Generation, nil)
				sy.InstanceID = inst[i]
				c.Handle(ctx, sy, ignore)
			}
			if len(ids) > 0 {
				jr := joinReq(9, gi.Group, ids[0])
				jr.InstanceID = inst[0]
				if gi.ProtocolType != "" {
					jr.ProtocolType = gi.ProtocolType
				}
				c.Handle(ctx, jr, ignore)
			}
			c.Handle(ctx, commitReq(8, gi.Group, "", -1, "t", map[int32]int64{0: 1}), ignore)
		}
		clock.Advance(time.Hour)
		clock.Advance(time.Hour) // offsets of an empty group expire
		c.Groups()
	})
}

// FuzzSubscription parses arbitrary bytes as a "consumer" protocol
// subscription, which JoinGroup metadata and stored members carry.
func FuzzSubscription(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		ok := subscribedTopics(b, func(topic string) {
			n++
			if len(topic) > len(b) {
				t.Fatalf("topic of %d bytes from %d bytes of input", len(topic), len(b))
			}
		})
		if ok {
			var m kmsg.ConsumerMemberMetadata
			if err := m.ReadFrom(b); err == nil && len(m.Topics) != n {
				t.Fatalf("parsed %d topics, kmsg %d", n, len(m.Topics))
			}
		}
	})
}

// fuzzKeys are the request kinds FuzzHandle sends, by op byte.
var fuzzKeys = []int16{8, 9, 11, 12, 13, 14, 15, 16, 42, 47}

// FuzzHandle decodes a sequence of requests from arbitrary bytes and hands
// them to one coordinator, interleaved with clock advances. Each op is
//
//	op byte: op%16 == 15 → advance the clock by the next byte, in seconds
//	         else        → key fuzzKeys[op%10], then a version byte, a length
//	                       byte and that many bytes of request body
//
// (versions are taken modulo the supported maximum; flexible versions are
// skipped, see tagcheck.go). Nothing may panic, the group bookkeeping must
// stay consistent, and after Close every request must have had exactly one
// response. Partitions are unloaded and loaded again along the way.
func FuzzHandle(f *testing.F) {
	f.Fuzz(func(t *testing.T, ops []byte) {
		clock := NewFakeClock(epoch)
		c, err := New(Config{NumPartitions: 2, MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute, MaxSize: 3},
			NewMemStore(), Options{Logger: quietLogger(), Clock: clock, TopicPartitionExists: func(t string, p int32) bool { return t != "gone" }})
		if err != nil {
			t.Fatal(err)
		}
		ids := 0
		c.newMemberID = func(prefix string) string { ids++; return fmt.Sprintf("%s-%d", prefix, ids) }
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		var sent, answered atomic.Int64
		ctx := WithClient(context.Background(), "fuzz", "/1.2.3.4")
		epochs := [2]int32{}
		for len(ops) > 0 {
			op := ops[0]
			ops = ops[1:]
			if op%16 == 14 { // the leadership of a partition moves away, or back under a newer epoch
				if len(ops) == 0 {
					break
				}
				p := int32(ops[0] % 2)
				ops = ops[1:]
				c.lock()
				state, _ := c.core.StateLocked(p)
				c.unlock()
				if state == coord.Loaded {
					err = c.Unload(p)
				} else {
					epochs[p]++
					err = c.Load(context.Background(), p, epochs[p])
				}
				if err != nil {
					t.Fatalf("partition %d: %v", p, err)
				}
			} else if op%16 == 15 {
				if len(ops) == 0 {
					break
				}
				clock.Advance(time.Duration(ops[0]) * time.Second)
				ops = ops[1:]
			} else {
				if len(ops) < 2 {
					break
				}
				key := fuzzKeys[int(op)%len(fuzzKeys)]
				req := kmsg.RequestForKey(key)
				req.SetVersion(int16(ops[0]) % (apis[key].max + 1))
				n := int(ops[1])
				ops = ops[2:]
				if n > len(ops) {
					n = len(ops)
				}
				body := ops[:n]
				ops = ops[n:]
				if req.IsFlexible() || req.ReadFrom(body) != nil {
					continue
				}
				sent.Add(1)
				var once atomic.Bool
				c.Handle(ctx, req, func(r kmsg.Response) {
					if once.Swap(true) {
						t.Errorf("second response to %s", kmsg.NameForKey(key))
					}
					if r == nil || r.Key() != key || r.GetVersion() != req.GetVersion() {
						t.Errorf("response %T for %s v%d", r, kmsg.NameForKey(key), req.GetVersion())
					}
					answered.Add(1)
				})
			}
			c.lock()
			err := c.checkInvariantsLocked()
			c.unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		if sent.Load() != answered.Load() {
			t.Fatalf("%d requests, %d responses after Close", sent.Load(), answered.Load())
		}
	})
}
