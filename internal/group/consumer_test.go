package group

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
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
//	reset [max-size=<n>] [policy=<p>]    a new coordinator (session 45s, heartbeat 5s)
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
//	classic-group <a,b,...> [topics=..]  a Stable classic group of these members (classic
//	                                     protocol, the leader assigns t0 round-robin)
//	cjoin <name|-> [topics=..] [owned=t:p.p;..] [instance=<id>] [version=<v>]
//	                                     a classic member's JoinGroup (cooperative-sticky, range)
//	csync <name> gen=<n> [protocol=<p>]  its SyncGroup; shows its assignment
//	chb <name> gen=<n>                   its Heartbeat
//	cleave <name>                        its LeaveGroup
//	classic-describe                     DescribeGroups of g
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
	ids    int               // member ids generated so far
	alias  map[string]string // classic member name → member id (classic-group)
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
	if v, ok := arg(d, "policy"); ok {
		cfg.ConsumerMigrationPolicy = v
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
	case "classic-group":
		return s.classicGroup(d)
	case "cjoin":
		return s.classicJoin(d)
	case "csync":
		return s.classicSync(d)
	case "chb":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = 4
		req.Group = "g"
		req.MemberID = s.memberID(d.CmdArgs[0].Key)
		req.Generation = int32(intArg(t, d, "gen", -1))
		resp := s.h.send(req).wait().(*kmsg.HeartbeatResponse)
		return errName(resp.ErrorCode) + "\n"
	case "cleave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = 5
		req.Group = "g"
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: s.memberID(d.CmdArgs[0].Key)}}
		resp := s.h.send(req).wait().(*kmsg.LeaveGroupResponse)
		out := errName(resp.ErrorCode)
		for _, m := range resp.Members {
			out += " " + errName(m.ErrorCode)
		}
		return out + "\n"
	case "restart":
		s.h.quiesce()
		s.h.restart()
		s.deterministicIDs()
		return s.describe()
	case "records":
		return s.records()
	case "describe":
		return s.describe()
	case "classic-describe":
		d := s.h.describe("g")
		out := fmt.Sprintf("state=%s protocol=%s members=%d\n", d.State, d.Protocol, len(d.Members))
		for _, m := range d.Members {
			var a kmsg.ConsumerMemberAssignment
			_ = a.ReadFrom(m.MemberAssignment)
			out += fmt.Sprintf("  %s assigned=%s\n", s.name2(m.MemberID), fmtClassicAssignment(a))
		}
		return out
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
		if m.MemberType == 0 {
			inst += " classic"
		}
		fmt.Fprintf(&b, "  %s%s epoch=%d assigned=%s target=%s\n", s.name2(m.MemberID), inst, m.MemberEpoch,
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

// memberID maps a classic member's name to its member id ("-" is the empty id).
func (s *cspec) memberID(name string) string {
	if name == "-" {
		return ""
	}
	if id, ok := s.alias[name]; ok {
		return id
	}
	return name
}

// name2 maps a member id back to its classic name.
func (s *cspec) name2(id string) string {
	for n, v := range s.alias {
		if v == id {
			return n
		}
	}
	return id
}

// classicMeta is a ConsumerProtocolSubscription v3 of topics, owning owned ("t0:0.1;t1:2").
func classicMetaBytes(topics []string, owned string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 3
	m.Topics = topics
	m.Generation = -1
	if owned != "" && owned != "none" {
		for _, tpart := range strings.Split(owned, ";") {
			name, ps, _ := strings.Cut(tpart, ":")
			o := kmsg.ConsumerMemberMetadataOwnedPartition{Topic: name}
			for _, p := range strings.Split(ps, ".") {
				n, _ := strconv.Atoi(p)
				o.Partitions = append(o.Partitions, int32(n))
			}
			m.OwnedPartitions = append(m.OwnedPartitions, o)
		}
	}
	return m.AppendTo(nil)
}

func fmtClassicAssignment(a kmsg.ConsumerMemberAssignment) string {
	var parts []string
	for _, t := range a.Topics {
		var ps []string
		for _, p := range t.Partitions {
			ps = append(ps, strconv.Itoa(int(p)))
		}
		parts = append(parts, t.Topic+":"+strings.Join(ps, "."))
	}
	if len(parts) == 0 {
		return "-"
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

func (s *cspec) classicJoinReq(d *datadriven.TestData, memberID string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = int16(intArg(s.t, d, "version", 9))
	req.Group = "g"
	req.MemberID = memberID
	req.SessionTimeoutMillis = 10000
	req.RebalanceTimeoutMillis = 20000
	req.ProtocolType = "consumer"
	topics := []string{"t0"}
	if v, ok := arg(d, "topics"); ok {
		topics = strings.Split(v, ",")
	}
	owned, _ := arg(d, "owned")
	meta := classicMetaBytes(topics, owned)
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "cooperative-sticky", Metadata: meta}, {Name: "range", Metadata: meta}}
	if v, ok := arg(d, "instance"); ok {
		req.InstanceID = kmsg.StringPtr(v)
	}
	return req
}

// classicJoin sends a classic member's JoinGroup and prints what it is told.
func (s *cspec) classicJoin(d *datadriven.TestData) string {
	name := d.CmdArgs[0].Key
	resp := s.h.send(s.classicJoinReq(d, s.memberID(name))).wait().(*kmsg.JoinGroupResponse)
	if resp.ErrorCode == kerr.MemberIDRequired.Code && name != "-" {
		if s.alias == nil {
			s.alias = map[string]string{}
		}
		s.alias[name] = resp.MemberID
		resp = s.h.send(s.classicJoinReq(d, resp.MemberID)).wait().(*kmsg.JoinGroupResponse)
	}
	if resp.ErrorCode != 0 {
		return errName(resp.ErrorCode) + "\n"
	}
	proto := ""
	if resp.Protocol != nil {
		proto = *resp.Protocol
	}
	return fmt.Sprintf("gen=%d protocol=%s leader=%q members=%d\n", resp.Generation, proto, s.name2(resp.LeaderID), len(resp.Members))
}

// classicSync sends a classic member's SyncGroup (no assignments) and prints its assignment.
func (s *cspec) classicSync(d *datadriven.TestData) string {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group = "g"
	req.MemberID = s.memberID(d.CmdArgs[0].Key)
	req.Generation = int32(intArg(s.t, d, "gen", -1))
	req.ProtocolType = kmsg.StringPtr("consumer")
	req.Protocol = kmsg.StringPtr("cooperative-sticky")
	if v, ok := arg(d, "protocol"); ok {
		req.Protocol = kmsg.StringPtr(v)
	}
	resp := s.h.send(req).wait().(*kmsg.SyncGroupResponse)
	if resp.ErrorCode != 0 {
		return errName(resp.ErrorCode) + "\n"
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(resp.MemberAssignment); err != nil {
		s.t.Fatalf("assignment: %v", err)
	}
	return "assigned=" + fmtClassicAssignment(a) + "\n"
}

// classicGroup forms a Stable classic group of the named members subscribing to t0 with the
// classic protocol; the leader assigns t0's partitions round-robin (classic-group a,b).
func (s *cspec) classicGroup(d *datadriven.TestData) string {
	names := strings.Split(d.CmdArgs[0].Key, ",")
	if s.alias == nil {
		s.alias = map[string]string{}
	}
	var pend []*pendingResp
	for _, n := range names {
		first := s.h.send(s.classicJoinReq(d, "")).wait().(*kmsg.JoinGroupResponse)
		s.alias[n] = first.MemberID
		pend = append(pend, s.h.send(s.classicJoinReq(d, first.MemberID)))
	}
	for i := 0; i < 60 && !pend[0].ready(); i++ {
		s.h.clock.Advance(time.Second)
	}
	var joins []*kmsg.JoinGroupResponse
	for _, p := range pend {
		joins = append(joins, p.wait().(*kmsg.JoinGroupResponse))
	}
	parts := map[string][]int32{}
	for p := int32(0); p < s.topics["t0"]; p++ {
		n := names[int(p)%len(names)]
		parts[n] = append(parts[n], p)
	}
	var syncs []*pendingResp
	for i, n := range names {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = 5
		req.Group, req.MemberID, req.Generation = "g", s.alias[n], joins[i].Generation
		req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), joins[i].Protocol
		if joins[i].LeaderID == s.alias[n] {
			for _, m := range names {
				a := kmsg.ConsumerMemberAssignment{Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t0", Partitions: parts[m]}}}
				req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: s.alias[m], MemberAssignment: a.AppendTo(nil)})
			}
		}
		syncs = append(syncs, s.h.send(req))
	}
	for _, p := range syncs {
		if r := p.wait().(*kmsg.SyncGroupResponse); r.ErrorCode != 0 {
			s.t.Fatalf("sync: %s", errName(r.ErrorCode))
		}
	}
	return fmt.Sprintf("generation=%d protocol=%s\n", joins[0].Generation, *joins[0].Protocol)
}
