package group

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzConsumerHeartbeat drives one consumer-protocol group with ConsumerGroupHeartbeat
// requests built from arbitrary bytes (members, epochs, subscriptions, owned partitions,
// static instance ids, leaves), topic changes and clock advances. Each op is 4 bytes:
//
//	op%8 == 7 → advance the clock by b1 seconds
//	op%8 == 6 → topic t<b1%3> gets b2%5 partitions (0: deleted)
//	else      → a heartbeat of member m<b1%4> with epoch b2%6-2 (or the member's current
//	            epoch when b2 >= 200), subscriptions and owned partitions from b3's bits
//
// Nothing may panic, every request gets exactly one response, and the group's invariants
// hold after every op: no partition has two owners, the ownership index matches the members'
// assignments, static ids map to their members.
func FuzzConsumerHeartbeat(f *testing.F) {
	f.Add([]byte{0, 0, 2, 1, 0, 1, 2, 1, 0, 0, 255, 3, 1, 1, 255, 0, 7, 50, 0, 0})
	// Classic members form a group (join, clock, sync), a consumer member upgrades it, the
	// classic members rejoin, the consumer member leaves (downgrade).
	f.Add([]byte{5, 0, 0, 0, 5, 1, 0, 0, 7, 5, 0, 0, 5, 0, 0, 0, 5, 1, 0, 0, 7, 5, 0, 0, 5, 0, 1, 0, 5, 1, 1, 0,
		0, 2, 0, 1, 5, 0, 2, 0, 5, 0, 0, 0, 5, 0, 1, 0, 0, 2, 255, 64, 5, 1, 2, 0, 5, 1, 0, 1, 0, 2, 1, 0, 5, 0, 2, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		clock := NewFakeClock(epoch)
		topics := map[string]int32{"t0": 3, "t1": 2}
		c, err := New(Config{NumPartitions: 1, ConsumerMaxSize: 3}, NewMemStore(), Options{
			Logger: quietLogger(), Clock: clock,
			Topics: func() []TopicMeta {
				var out []TopicMeta
				for n, p := range topics {
					out = append(out, TopicMeta{Name: n, ID: topicID(n), Partitions: p})
				}
				return out
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		for len(ops) >= 4 {
			op, b1, b2, b3 := ops[0], ops[1], ops[2], ops[3]
			ops = ops[4:]
			switch op % 8 {
			case 7:
				clock.Advance(time.Duration(b1) * time.Second)
			case 5:
				// A classic member k<b1%3> (KIP-1099 mixed groups, upgrades, downgrades):
				// b2%4 = join (owning what the coordinator says it holds unless b3&1),
				// sync, heartbeat or leave, at its member epoch unless b3&2. Responses may
				// be parked: each must come at most once.
				id := fmt.Sprintf("k%d", b1%3)
				gen := int32(b3 >> 4)
				var owned []kmsg.ConsumerMemberMetadataOwnedPartition
				c.lock()
				if g := c.mu.groups["g"]; g != nil && g.consumer != nil {
					if m := g.consumer.members[id]; m != nil {
						if b3&2 == 0 {
							gen = m.epoch
						}
						if b3&1 == 0 {
							m.assigned.each(func(tid [16]byte, p int32) {
								owned = append(owned, kmsg.ConsumerMemberMetadataOwnedPartition{Topic: strings.TrimRight(string(tid[:]), "\x00"), Partitions: []int32{p}})
							})
						}
					}
				} else if g != nil && b3&2 == 0 {
					gen = g.generation
				}
				c.unlock()
				var req kmsg.Request
				switch b2 % 4 {
				case 0:
					meta := kmsg.NewConsumerMemberMetadata()
					meta.Version, meta.Topics, meta.OwnedPartitions = 3, []string{"t0"}, owned
					jr := joinReq(9, "g", id, withProtocols(kmsg.JoinGroupRequestProtocol{Name: "cooperative-sticky", Metadata: meta.AppendTo(nil)}))
					if b3&4 != 0 {
						jr.InstanceID = kmsg.StringPtr(fmt.Sprintf("i%d", b1%2))
					}
					req = jr
				case 1:
					sr := syncReq(5, "g", id, gen, nil)
					sr.Protocol = kmsg.StringPtr("cooperative-sticky")
					req = sr
				case 2:
					req = heartbeatReq(4, "g", id, gen)
				default:
					lr := kmsg.NewPtrLeaveGroupRequest()
					lr.Version, lr.Group = 5, "g"
					lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: id}}
					req = lr
				}
				var n atomic.Int32
				c.Handle(context.Background(), req, func(kmsg.Response) {
					if n.Add(1) > 1 {
						t.Errorf("two responses to a classic %T", req)
					}
				})
			case 6:
				name := fmt.Sprintf("t%d", b1%3)
				if n := int32(b2 % 5); n == 0 {
					delete(topics, name)
				} else {
					topics[name] = n
				}
			default:
				req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				req.Version = 1
				req.Group = "g"
				req.MemberID = fmt.Sprintf("m%d", b1%4)
				req.MemberEpoch = int32(b2%6) - 2
				if b2 >= 200 {
					c.lock()
					if g := c.mu.groups["g"]; g != nil && g.consumer != nil {
						if m := g.consumer.members[req.MemberID]; m != nil {
							req.MemberEpoch = m.epoch
						}
					}
					c.unlock()
				}
				req.RebalanceTimeoutMillis = -1
				if req.MemberEpoch == 0 || b3&1 != 0 {
					req.RebalanceTimeoutMillis = 10000
				}
				if b3&2 != 0 {
					req.InstanceID = kmsg.StringPtr(fmt.Sprintf("i%d", b1%2))
				}
				if b3&4 != 0 || req.MemberEpoch == 0 {
					req.SubscribedTopicNames = []string{"t0"}
					if b3&8 != 0 {
						req.SubscribedTopicNames = append(req.SubscribedTopicNames, "t1")
					}
				}
				if b3&16 != 0 {
					req.SubscribedTopicRegex = kmsg.StringPtr("^t[12]$")
				}
				if b3&32 != 0 {
					req.ServerAssignor = kmsg.StringPtr(assignorNames[int(b3>>7)])
				}
				if b3&64 != 0 || req.MemberEpoch == 0 {
					req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
					if req.MemberEpoch != 0 {
						// Report what the coordinator says the member owns, minus the
						// revoking ones when b3's top bit is set (the member revoked them).
						c.lock()
						if g := c.mu.groups["g"]; g != nil && g.consumer != nil {
							if m := g.consumer.members[req.MemberID]; m != nil {
								all := []assignment{m.assigned}
								if b3&128 == 0 {
									all = append(all, m.revoking)
								}
								for _, a := range all {
									a.each(func(id [16]byte, p int32) {
										req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: []int32{p}})
									})
								}
							}
						}
						c.unlock()
					}
				}
				// The response comes once the group's records are durable.
				got := make(chan kmsg.Response, 2)
				c.Handle(context.Background(), req, func(r kmsg.Response) { got <- r })
				select {
				case r := <-got:
					if _, ok := r.(*kmsg.ConsumerGroupHeartbeatResponse); !ok {
						t.Errorf("response %T", r)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("no response to a heartbeat")
				}
				c.lock() // the completions of the write have run: a second response would be queued
				c.unlock()
				if len(got) != 0 {
					t.Fatal("two responses to a heartbeat")
				}
			}
			c.lock()
			err := c.checkConsumerInvariantsLocked()
			if err == nil {
				err = c.checkWrittenLocked()
			}
			c.unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// checkWrittenLocked checks that what every consumer-protocol group has handed to the Store
// (cgroup.written) is exactly the records its state calls for: the partial writes of
// heartbeats miss nothing.
func (c *Coordinator) checkWrittenLocked() error {
	for _, g := range c.mu.groups {
		cg := g.consumer
		if cg == nil || cg.needsFull {
			continue
		}
		want := desiredConsumerRecords(g.id, cg)
		if len(want) != len(cg.written) {
			return fmt.Errorf("group %s: %d records written, its state has %d", g.id, len(cg.written), len(want))
		}
		for _, kv := range want {
			if !bytes.Equal(cg.written[string(kv.Key)], kv.Value) {
				return fmt.Errorf("group %s: record %x written as %x, its state says %x", g.id, kv.Key, cg.written[string(kv.Key)], kv.Value)
			}
		}
	}
	return nil
}

// checkConsumerInvariantsLocked checks every consumer-protocol group: each partition has at
// most one owner, the owners index is exactly the members' assigned and revoking partitions,
// static ids map to members with that id, and a group with members is not Empty.
func (c *Coordinator) checkConsumerInvariantsLocked() error {
	for _, g := range c.mu.groups {
		cg := g.consumer
		if cg == nil {
			continue
		}
		want := map[topicPart]string{}
		for _, m := range cg.members {
			for _, a := range []assignment{m.assigned, m.revoking} {
				for id, ps := range a {
					for _, p := range ps {
						k := topicPart{id, p}
						if o, ok := want[k]; ok {
							return fmt.Errorf("group %s: partition %x/%d owned by %s and %s", g.id, id, p, o, m.id)
						}
						want[k] = m.id
					}
				}
			}
		}
		if len(want) != len(cg.owners) {
			return fmt.Errorf("group %s: owners index has %d partitions, members hold %d", g.id, len(cg.owners), len(want))
		}
		for k, o := range want {
			if cg.owners[k] != o {
				return fmt.Errorf("group %s: owners index says %q owns %x/%d, member %s holds it", g.id, cg.owners[k], k.id, k.p, o)
			}
		}
		for inst, id := range cg.static {
			if m := cg.members[id]; m == nil || m.instanceID == nil || *m.instanceID != inst {
				return fmt.Errorf("group %s: static id %s maps to %s, which does not hold it", g.id, inst, id)
			}
		}
		if (len(cg.members) > 0) != (g.state == stateStable) {
			return fmt.Errorf("group %s: %d consumer members in classic state %s", g.id, len(cg.members), g.state)
		}
	}
	return nil
}
