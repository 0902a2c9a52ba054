package group

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerProtocol runs the consumer group protocol (KIP-848) specifications in
// testdata/consumer: members of group "g" heartbeat with ConsumerGroupHeartbeat and the file
// shows what each is told (error, epoch, assignment), and the group as ConsumerGroupDescribe
// shows it. Rewrite after a deliberate change with
//
//	go test ./internal/group -run TestConsumerProtocol -rewrite
//
// Commands:
//
//	reset [max-size=<n>]                 a new coordinator (session 45s, heartbeat 5s)
//	topic <name> <partitions>            create (or grow) a topic; its id is derived from its name
//	hb <member> epoch=<n> [topics=a,b] [regex=<re>] [owned=<t>:<p>.<p>;...|none]
//	   [instance=<id>] [assignor=<name>] [rebalance=<ms>] [version=<v>] [group=<id>]
//	                                     ConsumerGroupHeartbeat; a full request (epoch 0)
//	                                     sends owned=none unless given
//	describe                             ConsumerGroupDescribe of g
//	commit <member> epoch=<n> [version=<v>]   OffsetCommit of t0/0
//	fetch <member|-> epoch=<n>           OffsetFetch v9 of g
//	join                                 a classic JoinGroup v9 to g
//	list [types=<t,...>]                 ListGroups v5
//	advance <dur>                        moves the fake clock
//	restart                              a new coordinator replays the store; shows describe
//	records                              g's consumer-protocol records a compacted log keeps
func TestConsumerProtocol(t *testing.T) {
	datadriven.Walk(t, "testdata/consumer", func(t *testing.T, path string) {
		var s *cspec
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "reset" {
				s = newCSpec(t, d)
				return ""
			}
			if s == nil {
				d.Fatalf(t, "reset first")
			}
			s.t = t
			return s.run(d)
		})
	})
}

type cspec struct {
	t      *testing.T
	h      *harness
	topics map[string]int32
	ids    int // member ids generated so far
}

func topicID(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	return id
}

func newCSpec(t *testing.T, d *datadriven.TestData) *cspec {
	s := &cspec{t: t, topics: map[string]int32{}}
	cfg := testConfig()
	if d.HasArg("max-size") {
		var n int
		d.ScanArgs(t, "max-size", &n)
		cfg.ConsumerMaxSize = n
	}
	h := &harness{t: t, clock: NewFakeClock(epoch), store: NewMemStore(), cfg: cfg}
	h.opts = Options{Logger: quietLogger(), Clock: h.clock, Topics: func() []TopicMeta {
		var out []TopicMeta
		for n, p := range s.topics {
			out = append(out, TopicMeta{Name: n, ID: topicID(n), Partitions: p})
		}
		return out
	}}
	h.start()
	s.h = h
	s.deterministicIDs()
	return s
}

// deterministicIDs makes the coordinator's generated member ids count up.
func (s *cspec) deterministicIDs() {
	s.h.c.newMemberID = func(prefix string) string { s.ids++; return fmt.Sprintf("%s-gen%d", prefix, s.ids) }
}

// records shows the consumer-protocol records of g as a compacted log keeps them (the last
// value of each key, tombstones dropped), decoded, in key order.
func (s *cspec) records() string {
	s.h.quiesce()
	last := map[string][]byte{}
	for _, kv := range s.h.store.Records(s.h.c.Partition("g")) {
		if kv.Value == nil {
			delete(last, string(kv.Key))
		} else {
			last[string(kv.Key)] = kv.Value
		}
	}
	var lines []string
	for k, v := range last {
		rec, err := decodeRecord(KV{Key: []byte(k), Value: v})
		if err != nil {
			s.t.Fatalf("record %x: %v", k, err)
		}
		if rec.kind != kindConsumer {
			continue
		}
		line := fmt.Sprintf("%d %s", rec.ckey.typ, rec.ckey.member)
		switch v := rec.cval.(type) {
		case *cgMetaValue:
			line += fmt.Sprintf("group epoch=%d hash=%t", v.epoch, v.metadataHash != 0)
		case *cgMemberValue:
			line += fmt.Sprintf(" member topics=%s", strings.Join(v.topics, ","))
			if v.instanceID != nil {
				line += " instance=" + *v.instanceID
			}
			if v.regex != nil {
				line += " regex=" + *v.regex
			}
		case int32:
			line += fmt.Sprintf("target epoch=%d", v)
		case assignment:
			line += " target=" + s.fmtAssignment(v)
		case *cgCurrentValue:
			line += fmt.Sprintf(" current epoch=%d prev=%d state=%s assigned=%s revoking=%s", v.epoch, v.prevEpoch,
				memberState(v.state), s.fmtAssignment(v.assigned), s.fmtAssignment(v.revoking))
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func arg(d *datadriven.TestData, key string) (string, bool) {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			if len(a.Vals) == 0 {
				return "", true
			}
			return strings.Join(a.Vals, ","), true
		}
	}
	return "", false
}

func intArg(t *testing.T, d *datadriven.TestData, key string, def int) int {
	v, ok := arg(d, key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return n
}

func (s *cspec) name(id [16]byte) string { return strings.TrimRight(string(id[:]), "\x00") }

func (s *cspec) run(d *datadriven.TestData) string {
	t := s.t
	switch d.Cmd {
	case "topic":
		n, _ := strconv.Atoi(d.CmdArgs[1].Key)
		s.topics[d.CmdArgs[0].Key] = int32(n)
		return ""
	case "advance":
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		s.h.clock.Advance(dur)
		return s.describe()
	case "hb":
		return s.heartbeat(d)
	case "restart":
		s.h.quiesce()
		s.h.restart()
		s.deterministicIDs()
		return s.describe()
	case "records":
		return s.records()
	case "describe":
		return s.describe()
	case "commit":
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = int16(intArg(t, d, "version", 9))
		req.Group = "g"
		req.MemberID = d.CmdArgs[0].Key
		req.Generation = int32(intArg(t, d, "epoch", -1))
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t0"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 10
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := s.h.send(req).wait().(*kmsg.OffsetCommitResponse)
		return errName(resp.Topics[0].Partitions[0].ErrorCode) + "\n"
	case "fetch":
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = "g"
		if m := d.CmdArgs[0].Key; m != "-" {
			rg.MemberID = kmsg.StringPtr(m)
		}
		rg.MemberEpoch = int32(intArg(t, d, "epoch", -1))
		req.Groups = append(req.Groups, rg)
		resp := s.h.send(req).wait().(*kmsg.OffsetFetchResponse)
		g := resp.Groups[0]
		out := errName(g.ErrorCode)
		for _, tp := range g.Topics {
			for _, p := range tp.Partitions {
				out += fmt.Sprintf(" %s/%d=%d", tp.Topic, p.Partition, p.Offset)
			}
		}
		return out + "\n"
	case "join":
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 9
		req.Group = "g"
		req.SessionTimeoutMillis = 10000
		req.RebalanceTimeoutMillis = 10000
		req.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		resp := s.h.send(req).wait().(*kmsg.JoinGroupResponse)
		return errName(resp.ErrorCode) + "\n"
	case "list":
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 5
		if v, ok := arg(d, "types"); ok {
			req.TypesFilter = strings.Split(v, ",")
		}
		resp := s.h.send(req).wait().(*kmsg.ListGroupsResponse)
		var b strings.Builder
		for _, g := range resp.Groups {
			fmt.Fprintf(&b, "%s type=%s state=%s protocol=%s\n", g.Group, g.GroupType, g.GroupState, g.ProtocolType)
		}
		return b.String()
	}
	d.Fatalf(t, "unknown command %s", d.Cmd)
	return ""
}

func (s *cspec) heartbeat(d *datadriven.TestData) string {
	t := s.t
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = int16(intArg(t, d, "version", 1))
	req.Group = "g"
	if g, ok := arg(d, "group"); ok {
		req.Group = g
	}
	req.MemberID = d.CmdArgs[0].Key
	if req.MemberID == "-" {
		req.MemberID = ""
	}
	req.MemberEpoch = int32(intArg(t, d, "epoch", 0))
	req.RebalanceTimeoutMillis = int32(intArg(t, d, "rebalance", -1))
	if req.MemberEpoch == 0 && req.RebalanceTimeoutMillis == -1 {
		req.RebalanceTimeoutMillis = 30000
	}
	if v, ok := arg(d, "topics"); ok {
		req.SubscribedTopicNames = strings.Split(v, ",")
	}
	if v, ok := arg(d, "regex"); ok {
		req.SubscribedTopicRegex = kmsg.StringPtr(v)
	}
	if v, ok := arg(d, "instance"); ok {
		req.InstanceID = kmsg.StringPtr(v)
	}
	if v, ok := arg(d, "assignor"); ok {
		req.ServerAssignor = kmsg.StringPtr(v)
	}
	owned, ok := arg(d, "owned")
	if !ok && req.MemberEpoch == 0 {
		owned, ok = "none", true
	}
	if ok {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if owned != "none" {
			for _, tpart := range strings.Split(owned, ";") {
				name, ps, _ := strings.Cut(tpart, ":")
				rt := kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: topicID(name)}
				for _, p := range strings.Split(ps, ".") {
					n, _ := strconv.Atoi(p)
					rt.Partitions = append(rt.Partitions, int32(n))
				}
				req.Topics = append(req.Topics, rt)
			}
		}
	}
	resp := s.h.send(req).wait().(*kmsg.ConsumerGroupHeartbeatResponse)
	if resp.ErrorCode != 0 {
		return fmt.Sprintf("%s: %s\n", errName(resp.ErrorCode), *resp.ErrorMessage)
	}
	out := fmt.Sprintf("epoch=%d interval=%d", resp.MemberEpoch, resp.HeartbeatIntervalMillis)
	if resp.Assignment != nil {
		a := assignment{}
		for _, tp := range resp.Assignment.Topics {
			for _, p := range tp.Partitions {
				a.add(tp.TopicID, p)
			}
		}
		out += " assignment=" + s.fmtAssignment(a)
	}
	return out + "\n"
}

// fmtAssignment prints a as t0:0.1;t1:2 (topics by name), or "-" when empty.
func (s *cspec) fmtAssignment(a assignment) string {
	var parts []string
	for id, ps := range a {
		var b strings.Builder
		b.WriteString(s.name(id) + ":")
		for i, p := range ps {
			if i > 0 {
				b.WriteString(".")
			}
			b.WriteString(strconv.Itoa(int(p)))
		}
		parts = append(parts, b.String())
	}
	if len(parts) == 0 {
		return "-"
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

func (s *cspec) describe() string {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version = 1
	req.Groups = []string{"g"}
	resp := s.h.send(req).wait().(*kmsg.ConsumerGroupDescribeResponse)
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return "group: " + errName(g.ErrorCode) + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "group: state=%s epoch=%d assignment-epoch=%d assignor=%s\n", g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName)
	conv := func(a kmsg.Assignment) assignment {
		out := assignment{}
		for _, tp := range a.TopicPartitions {
			for _, p := range tp.Partitions {
				out.add(tp.TopicID, p)
			}
		}
		return out
	}
	for _, m := range g.Members {
		inst := ""
		if m.InstanceID != nil {
			inst = " instance=" + *m.InstanceID
		}
		fmt.Fprintf(&b, "  %s%s epoch=%d assigned=%s target=%s\n", m.MemberID, inst, m.MemberEpoch,
			s.fmtAssignment(conv(m.Assignment)), s.fmtAssignment(conv(m.TargetAssignment)))
	}
	s.checkOwnership()
	return b.String()
}

// checkOwnership asserts the protocol's invariant: no partition is held by two members.
func (s *cspec) checkOwnership() {
	s.h.c.lock()
	defer s.h.c.unlock()
	g := s.h.c.mu.groups["g"]
	if g == nil || g.consumer == nil {
		return
	}
	seen := map[topicPart]string{}
	for _, m := range g.consumer.members {
		for _, a := range []assignment{m.assigned, m.revoking} {
			a.each(func(id [16]byte, p int32) {
				if o, ok := seen[topicPart{id, p}]; ok {
					s.t.Errorf("partition %s/%d held by %s and %s", s.name(id), p, o, m.id)
				}
				seen[topicPart{id, p}] = m.id
			})
		}
	}
}
