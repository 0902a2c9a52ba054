package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

// FuzzShareRequests builds share-group requests from fuzzed fields (group, member, session
// and member epochs, partition, an acknowledgement batch, limits, the topic known or not) and
// serves them on one broker whose topic holds records, so that sequences of requests move
// real share state: every request is answered exactly once, with a response of its kind,
// and nothing panics. (The fields are fuzzed rather than the encoded request: kmsg's decoder
// is not what is under test here.)
func FuzzShareRequests(f *testing.F) {
	b, err := New(Config{DataDir: f.TempDir(), Settings: config.DefaultBroker()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	t, err := b.createTopic(topicSpec{name: "t", partitions: 2})
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		p := b.partition(t, int32(i%2))
		end, err := p.AppendRecords(time.Now().UnixMilli(), -1, -1, 5, func(int) ([]byte, []byte) { return nil, []byte("v") })
		if err != nil {
			f.Fatal(err)
		}
		if err := p.WaitCommitted(context.Background(), end); err != nil {
			f.Fatal(err)
		}
	}
	if err := b.alterGroupConfigs("g", []groupConfigOp{{"share.auto.offset.reset", kmsg.StringPtr("earliest")}, {"samsa.share.dlq.topic", kmsg.StringPtr("t")}}, false, false); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), "g", "m", int32(0), int32(0), int64(0), int64(0), []byte{}, int32(3), true)
	f.Add(uint8(2), "g", "m", int32(0), int32(0), int64(0), int64(0), []byte{}, int32(3), true)
	f.Add(uint8(2), "g", "m", int32(1), int32(0), int64(0), int64(2), []byte{1, 2, 3}, int32(3), true)
	f.Add(uint8(3), "g", "m", int32(2), int32(1), int64(0), int64(4), []byte{3}, int32(0), true)
	f.Add(uint8(2), "g", "m", int32(-1), int32(1), int64(3), int64(3), []byte{2}, int32(0), false)
	f.Add(uint8(4), "g", "", int32(0), int32(0), int64(0), int64(0), []byte{}, int32(0), true)
	f.Add(uint8(5), "h", "", int32(0), int32(0), int64(2), int64(0), []byte{}, int32(0), true)
	f.Add(uint8(6), "h", "", int32(0), int32(0), int64(0), int64(0), []byte{}, int32(0), true)
	f.Add(uint8(1), "g", "", int32(0), int32(0), int64(0), int64(0), []byte{}, int32(0), true)
	f.Add(uint8(7), "g", "", int32(0), int32(0), int64(0), int64(0), []byte{}, int32(0), true)
	f.Add(uint8(8), "g", "", int32(1), int32(1), int64(2), int64(0), []byte{}, int32(0), true)
	f.Add(uint8(9), "g", "", int32(4), int32(1), int64(0), int64(0), []byte{}, int32(0), true)
	f.Add(uint8(10), "g", "", int32(3), int32(1), int64(2), int64(3), []byte{0, 4, 7}, int32(2), true)
	f.Add(uint8(10), "g", "", int32(0), int32(0), int64(-9), int64(-20), []byte{2}, int32(-1), true)
	f.Add(uint8(11), "g", "", int32(0), int32(1), int64(0), int64(0), []byte{}, int32(0), true)
	f.Add(uint8(12), "g", "", int32(0), int32(0), int64(0), int64(0), []byte{}, int32(0), false)

	f.Fuzz(func(tt *testing.T, kind uint8, group, member string, epoch, part int32, first, last int64, types []byte, maxRecords int32, known bool) {
		tid, name := t.id, "t"
		if !known {
			tid, name = [16]byte{9}, "nope"
		}
		acks := make([]int8, len(types))
		for i, x := range types {
			acks[i] = int8(x)
		}
		var req kmsg.Request
		switch kind % 13 {
		case 0:
			r := kmsg.NewPtrShareGroupHeartbeatRequest()
			r.GroupID, r.MemberID, r.MemberEpoch = group, member, epoch
			if known {
				r.SubscribedTopicNames = []string{name}
			}
			req = r
		case 1:
			r := kmsg.NewPtrShareGroupDescribeRequest()
			r.GroupIDs = []string{group, "g"}
			req = r
		case 2:
			r := kmsg.NewPtrShareFetchRequest()
			r.GroupID, r.MemberID, r.ShareSessionEpoch, r.MaxRecords, r.MaxWaitMillis = &group, &member, epoch, maxRecords, 10
			r.MaxBytes = maxRecords * 100
			rp := kmsg.ShareFetchRequestTopicPartition{Partition: part}
			if len(acks) > 0 {
				rp.AcknowledgementBatches = []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{{FirstOffset: first, LastOffset: last, AcknowledgeTypes: acks}}
			}
			r.Topics = []kmsg.ShareFetchRequestTopic{{TopicID: tid, Partitions: []kmsg.ShareFetchRequestTopicPartition{rp}}}
			if maxRecords%3 == 0 {
				r.ForgottenTopicsData = []kmsg.ShareFetchRequestForgottenTopicsData{{TopicID: tid, Partitions: []int32{part}}}
			}
			req = r
		case 3:
			r := kmsg.NewPtrShareAcknowledgeRequest()
			r.GroupID, r.MemberID, r.ShareSessionEpoch = &group, &member, epoch
			r.Topics = []kmsg.ShareAcknowledgeRequestTopic{{TopicID: tid, Partitions: []kmsg.ShareAcknowledgeRequestTopicPartition{{Partition: part,
				AcknowledgementBatches: []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{{FirstOffset: first, LastOffset: last, AcknowledgeTypes: acks}}}}}}
			req = r
		case 4:
			r := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
			g := kmsg.DescribeShareGroupOffsetsRequestGroup{GroupID: group}
			if known {
				g.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: name, Partitions: []int32{part}}}
			}
			r.Groups = []kmsg.DescribeShareGroupOffsetsRequestGroup{g}
			req = r
		case 5:
			r := kmsg.NewPtrAlterShareGroupOffsetsRequest()
			r.GroupID = group
			r.Topics = []kmsg.AlterShareGroupOffsetsRequestTopic{{Topic: name, Partitions: []kmsg.AlterShareGroupOffsetsRequestTopicPartition{{Partition: part, StartOffset: first}}}}
			req = r
		case 6:
			r := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
			r.GroupID, r.Topics = group, []kmsg.DeleteShareGroupOffsetsRequestTopic{{Topic: name}}
			req = r
		case 7:
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Version, r.Groups = 2, []string{group}
			req = r
		// The share state coordinator's APIs (brokers send them; here anyone does).
		case 8:
			r := kmsg.NewPtrInitializeShareGroupStateRequest()
			r.GroupID = group
			r.Topics = []kmsg.InitializeShareGroupStateRequestTopic{{TopicID: tid, Partitions: []kmsg.InitializeShareGroupStateRequestTopicPartition{{Partition: part, StateEpoch: epoch, StartOffset: first}}}}
			req = r
		case 9:
			r := kmsg.NewPtrReadShareGroupStateRequest()
			r.GroupID = group
			r.Topics = []kmsg.ReadShareGroupStateRequestTopic{{TopicID: tid, Partitions: []kmsg.ReadShareGroupStateRequestTopicPartition{{Partition: part, LeaderEpoch: epoch}}}}
			req = r
		case 10:
			r := kmsg.NewPtrWriteShareGroupStateRequest()
			r.GroupID = group
			wp := kmsg.WriteShareGroupStateRequestTopicPartition{Partition: part, StateEpoch: epoch % 2, LeaderEpoch: epoch, StartOffset: first}
			for _, a := range acks {
				wp.StateBatches = append(wp.StateBatches, kmsg.WriteShareGroupStateRequestTopicPartitionStateBatch{FirstOffset: first, LastOffset: last, DeliveryState: a, DeliveryCount: int16(maxRecords)})
			}
			r.Topics = []kmsg.WriteShareGroupStateRequestTopic{{TopicID: tid, Partitions: []kmsg.WriteShareGroupStateRequestTopicPartition{wp}}}
			req = r
		case 11:
			r := kmsg.NewPtrDeleteShareGroupStateRequest()
			r.GroupID = group
			r.Topics = []kmsg.DeleteShareGroupStateRequestTopic{{TopicID: tid, Partitions: []kmsg.DeleteShareGroupStateRequestTopicPartition{{Partition: part}}}}
			req = r
		case 12:
			r := kmsg.NewPtrReadShareGroupStateSummaryRequest()
			r.GroupID = group
			r.Topics = []kmsg.ReadShareGroupStateSummaryRequestTopic{{TopicID: tid, Partitions: []kmsg.ReadShareGroupStateSummaryRequestTopicPartition{{Partition: part, LeaderEpoch: epoch}}}}
			req = r
		}
		key := req.Key()
		if key != kmsg.DeleteGroups.Int16() {
			req.SetVersion(req.MaxVersion())
			if key >= 83 {
				req.SetVersion(0)
			} else {
				req.SetVersion(1)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &conn{b: b, ctx: ctx, cancel: cancel}
		r := &request{kreq: req, c: c, done: make(chan kmsg.Response, 2)}
		r.hdr.Key = key
		handlers[key](b, r)
		select {
		case resp := <-r.done:
			if resp == nil || resp.Key() != key {
				tt.Fatalf("%s answered with %v", kmsg.NameForKey(key), resp)
			}
		case <-time.After(10 * time.Second):
			tt.Fatalf("%s not answered", kmsg.NameForKey(key))
		}
		select {
		case extra := <-r.done:
			tt.Fatalf("%s answered twice: %v", kmsg.NameForKey(key), extra)
		default:
		}
	})
}
