package group

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRebalances runs the consumer-group rebalance specifications in testdata/rebalance:
// each case is a sequence of requests of clients against one group "g" and the responses
// they get, with the group's state where it matters. Rewrite the expected output after a
// deliberate change with
//
//	go test ./internal/group -run TestRebalances -rewrite
//
// Commands (a client is named by an alias; its member id and generation are remembered
// from its last JoinGroup response):
//
//	reset [initial-delay=<dur>]          a new coordinator and group (sessions 1s..60s)
//	join <alias> [instance=<id>] [protocols=<p1,p2>] [session=<dur>] [rebalance=<dur>] [member=<id>]
//	                                     JoinGroup v9; a new dynamic member first gets
//	                                     MEMBER_ID_REQUIRED and joins again with its id
//	sync <alias> [gen=<n>] [assign=<alias>:<bytes>,...]   SyncGroup v5 (the leader assigns)
//	heartbeat <alias> [gen=<n>] [member=<id>]   Heartbeat v4
//	leave <alias>                        LeaveGroup v5 (by member id and instance id)
//	advance <dur>                        moves the fake clock (session and rebalance timeouts)
//	state                                the group: state, generation, protocol, leader,
//	                                     members with their assignments (DescribeGroups)
//
// Every command prints the responses delivered while it ran, in delivery order, for
// requests parked earlier too.
func TestRebalances(t *testing.T) {
	datadriven.Walk(t, "testdata/rebalance", func(t *testing.T, path string) {
		var s *spec
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "reset" {
				s = newSpec(t, d)
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

// spec is the state of one specification file.
type spec struct {
	t       *testing.T
	h       *harness
	clients map[string]*specClient

	mu  sync.Mutex
	out []string // responses delivered, formatted
}

type specClient struct {
	memberID string
	instance *string
	gen      int32
	protocol string
	lastJoin *kmsg.JoinGroupRequest
}

func newSpec(t *testing.T, d *datadriven.TestData) *spec {
	cfg := Config{NumPartitions: 1, MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute, InitialRebalanceDelay: -1}
	if d.HasArg("initial-delay") {
		cfg.InitialRebalanceDelay = scanDuration(t, d, "initial-delay")
	}
	h := &harness{t: t, clock: NewFakeClock(epoch), store: NewMemStore(), cfg: cfg}
	h.opts = Options{Logger: quietLogger(), Clock: h.clock}
	c, err := New(cfg, h.store, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	c.newMemberID = func(prefix string) string { ids[prefix]++; return fmt.Sprintf("%s-%d", prefix, ids[prefix]) }
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h.c = c
	return &spec{t: t, h: h, clients: map[string]*specClient{}}
}

func scanDuration(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var s string
	d.ScanArgs(t, key, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}

// client returns alias's state; s.mu must be held (responses update it from other
// goroutines).
func (s *spec) client(alias string) *specClient {
	c := s.clients[alias]
	if c == nil {
		c = &specClient{}
		s.clients[alias] = c
	}
	return c
}

// snapshot returns a copy of alias's state.
func (s *spec) snapshot(alias string) specClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.client(alias)
}

func (s *spec) run(d *datadriven.TestData) string {
	t := s.t
	alias := ""
	if len(d.CmdArgs) > 0 && d.CmdArgs[0].Vals == nil {
		alias = d.CmdArgs[0].Key
	}
	cl := s.snapshot(alias)
	gen := func() int32 {
		if d.HasArg("gen") {
			var g int
			d.ScanArgs(t, "gen", &g)
			return int32(g)
		}
		return cl.gen
	}
	switch d.Cmd {
	case "join":
		opts := []joinOpt{}
		if d.HasArg("instance") {
			var id string
			d.ScanArgs(t, "instance", &id)
			cl.instance = &id
			s.mu.Lock()
			s.client(alias).instance = &id
			s.mu.Unlock()
		}
		if cl.instance != nil {
			opts = append(opts, withInstance(*cl.instance))
		}
		if d.HasArg("protocols") {
			var ps string
			d.ScanArgs(t, "protocols", &ps)
			var protos []kmsg.JoinGroupRequestProtocol
			for _, p := range strings.Split(ps, ",") {
				protos = append(protos, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: consumerMeta("t")})
			}
			opts = append(opts, withProtocols(protos...))
		}
		session, rebalance := 10*time.Second, 20*time.Second
		if d.HasArg("session") {
			session = scanDuration(t, d, "session")
		}
		if d.HasArg("rebalance") {
			rebalance = scanDuration(t, d, "rebalance")
		}
		opts = append(opts, withTimeouts(session, rebalance))
		memberID := cl.memberID
		if d.HasArg("member") {
			d.ScanArgs(t, "member", &memberID)
		}
		req := joinReq(9, "g", memberID, opts...)
		s.mu.Lock()
		s.client(alias).lastJoin = req
		s.mu.Unlock()
		s.send(alias, req)
	case "sync":
		req := syncReq(5, "g", cl.memberID, gen(), nil)
		req.Protocol = kmsg.StringPtr(cl.protocol)
		if d.HasArg("assign") {
			var as []string
			d.ScanArgs(t, "assign", &as)
			for _, a := range as {
				who, bytes, ok := strings.Cut(a, ":")
				if !ok {
					d.Fatalf(t, "assign %q: want <alias>:<bytes>", a)
				}
				req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{
					MemberID: s.snapshot(who).memberID, MemberAssignment: []byte(bytes),
				})
			}
		}
		s.send(alias, req)
	case "heartbeat":
		memberID := cl.memberID
		if d.HasArg("member") {
			d.ScanArgs(t, "member", &memberID)
		}
		req := heartbeatReq(4, "g", memberID, gen())
		req.InstanceID = cl.instance
		s.send(alias, req)
	case "leave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = 5
		req.Group = "g"
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: cl.memberID, InstanceID: cl.instance}}
		s.send(alias, req)
	case "advance":
		var dur string
		d.ScanArgs(t, "by", &dur)
		v, err := time.ParseDuration(dur)
		if err != nil {
			d.Fatalf(t, "advance: %v", err)
		}
		s.h.clock.Advance(v)
	case "state":
		s.h.quiesce()
		return s.state()
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	s.h.quiesce()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := strings.Join(s.out, "\n")
	s.out = nil
	return out
}

// send hands req to the coordinator; its response is formatted when it is delivered.
func (s *spec) send(alias string, req kmsg.Request) {
	ctx := WithClient(context.Background(), alias, "/127.0.0.1")
	s.h.c.Handle(ctx, req, func(r kmsg.Response) { s.delivered(alias, r) })
}

func (s *spec) delivered(alias string, r kmsg.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cl := s.client(alias)
	var line string
	switch r := r.(type) {
	case *kmsg.JoinGroupResponse:
		if r.ErrorCode == kerr.MemberIDRequired.Code {
			// A new dynamic member joins again with the id it was given, as clients do.
			cl.memberID = r.MemberID
			req := *cl.lastJoin
			req.MemberID = r.MemberID
			s.out = append(s.out, fmt.Sprintf("join %s: MEMBER_ID_REQUIRED member=%s (joins again)", alias, r.MemberID))
			s.mu.Unlock()
			s.send(alias, &req)
			s.mu.Lock()
			return
		}
		if r.ErrorCode != 0 {
			line = fmt.Sprintf("join %s: %s", alias, codeName(r.ErrorCode))
			break
		}
		cl.memberID, cl.gen = r.MemberID, r.Generation
		if r.Protocol != nil {
			cl.protocol = *r.Protocol
		}
		line = fmt.Sprintf("join %s: ok member=%s gen=%d protocol=%s leader=%s", alias, r.MemberID, r.Generation, cl.protocol, r.LeaderID)
		if len(r.Members) > 0 {
			ids := make([]string, len(r.Members))
			for i, m := range r.Members {
				ids[i] = m.MemberID
				if m.InstanceID != nil {
					ids[i] += "(" + *m.InstanceID + ")"
				}
			}
			slices.Sort(ids)
			line += " members=" + strings.Join(ids, ",")
		}
	case *kmsg.SyncGroupResponse:
		if r.ErrorCode != 0 {
			line = fmt.Sprintf("sync %s: %s", alias, codeName(r.ErrorCode))
		} else {
			line = fmt.Sprintf("sync %s: ok assignment=%q", alias, r.MemberAssignment)
		}
	case *kmsg.HeartbeatResponse:
		line = fmt.Sprintf("heartbeat %s: %s", alias, codeName(r.ErrorCode))
	case *kmsg.LeaveGroupResponse:
		code := r.ErrorCode
		if code == 0 && len(r.Members) > 0 {
			code = r.Members[0].ErrorCode
		}
		line = fmt.Sprintf("leave %s: %s", alias, codeName(code))
	default:
		line = fmt.Sprintf("%s %s: %T", kmsg.NameForKey(r.Key()), alias, r)
	}
	s.out = append(s.out, line)
}

// codeName is "ok" or the Kafka name of code.
func codeName(code int16) string {
	if code == 0 {
		return "ok"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return fmt.Sprint(code)
}

// state describes group g as DescribeGroups and the coordinator's snapshot show it.
func (s *spec) state() string {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{"g"}
	req.Version = 5
	g := s.h.call(req).(*kmsg.DescribeGroupsResponse).Groups[0]
	var b strings.Builder
	gen, leader := int32(0), ""
	for _, gi := range s.h.c.Groups() {
		if gi.Group == "g" {
			gen, leader = gi.Generation, gi.Leader
		}
	}
	fmt.Fprintf(&b, "state=%s gen=%d protocol=%s leader=%s", g.State, gen, g.Protocol, leader)
	members := slices.Clone(g.Members)
	slices.SortFunc(members, func(a, b kmsg.DescribeGroupsResponseGroupMember) int { return strings.Compare(a.MemberID, b.MemberID) })
	for _, m := range members {
		fmt.Fprintf(&b, "\nmember %s", m.MemberID)
		if m.InstanceID != nil {
			fmt.Fprintf(&b, " instance=%s", *m.InstanceID)
		}
		if g.State == "Stable" {
			fmt.Fprintf(&b, " assignment=%q", m.MemberAssignment)
		}
	}
	return b.String()
}
