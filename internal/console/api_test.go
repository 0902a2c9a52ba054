package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/samsa-streaming/samsa/internal/console"
	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/serde"
)

func TestHealthAndReady(t *testing.T) {
	e := start(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if st, body := e.call("GET", p, nil); st != 200 {
			t.Fatalf("%s: %d %s", p, st, body)
		}
	}
	var ci console.ClusterInfo
	e.must("GET", "/api/cluster", nil, 200, &ci)
	if len(ci.Brokers) != 1 || ci.ClusterID == "" || ci.Controller != ci.Brokers[0].ID {
		t.Fatalf("cluster %+v", ci)
	}
}

func TestAPITopicLifecycle(t *testing.T) {
	e := start(t)
	e.must("POST", "/api/topics", map[string]any{"name": "orders", "partitions": 2, "configs": map[string]string{"retention.ms": "3600000"}}, 201, nil)
	e.must("POST", "/api/topics", map[string]any{"name": "orders", "partitions": 2}, http.StatusConflict, nil)

	var tl console.TopicList
	e.must("GET", "/api/topics?filter=ord", nil, 200, &tl)
	if tl.Total != 1 || tl.Topics[0].Name != "orders" || tl.Topics[0].Partitions != 2 {
		t.Fatalf("list %+v", tl)
	}
	// Pagination: 3 topics named a*, page size 2.
	e.createTopic("a1", 1)
	e.createTopic("a2", 1)
	e.createTopic("a3", 1)
	e.must("GET", "/api/topics?filter=a&page=2&page_size=2", nil, 200, &tl)
	if tl.Total != 3 || len(tl.Topics) != 1 || tl.Topics[0].Name != "a3" {
		t.Fatalf("page 2 %+v", tl)
	}

	var d console.TopicDetail
	e.must("GET", "/api/topics/orders", nil, 200, &d)
	if len(d.Partitions) != 2 || configValue(d, "retention.ms") != "3600000" {
		t.Fatalf("detail %+v", d)
	}
	e.must("PUT", "/api/topics/orders/configs", map[string]any{"configs": map[string]any{"retention.ms": "7200000", "cleanup.policy": "compact"}}, 200, nil)
	e.must("GET", "/api/topics/orders", nil, 200, &d)
	if configValue(d, "retention.ms") != "7200000" || configValue(d, "cleanup.policy") != "compact" {
		t.Fatalf("after alter: %+v", d.Configs)
	}
	e.must("PUT", "/api/topics/orders/configs", map[string]any{"configs": map[string]any{"retention.ms": nil}}, 200, nil)
	e.must("GET", "/api/topics/orders", nil, 200, &d)
	if configValue(d, "retention.ms") == "7200000" {
		t.Fatalf("retention.ms override not removed: %+v", d.Configs)
	}

	e.must("POST", "/api/topics/orders/partitions", map[string]any{"count": 4}, 200, nil)
	e.must("GET", "/api/topics/orders", nil, 200, &d)
	if len(d.Partitions) != 4 {
		t.Fatalf("partitions %d", len(d.Partitions))
	}
	e.must("POST", "/api/topics/orders/partitions", map[string]any{"count": 3}, 400, nil) // cannot shrink

	e.must("DELETE", "/api/topics/orders", nil, 200, nil)
	testwait.Until(t, testTimeout, "the deleted topic to be gone", func() (bool, string) {
		st, body := e.call("GET", "/api/topics/orders", nil)
		return st == 404, fmt.Sprintf("%d %s", st, body)
	})
	e.must("DELETE", "/api/topics/orders", nil, 404, nil)
}

func configValue(d console.TopicDetail, name string) string {
	for _, c := range d.Configs {
		if c.Name == name && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// TestAPIBadInput: every parameter is validated with a 4xx and a message saying why.
func TestAPIBadInput(t *testing.T) {
	e := start(t)
	e.createTopic("t", 1)
	e.produce(&kgo.Record{Topic: "t", Value: []byte("x")})
	huge := strings.Repeat("x", 300)
	cases := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/api/topics", `{"name":`, 400},
		{"POST", "/api/topics", ``, 400},
		{"POST", "/api/topics", `{"name":"x","bogus":1}`, 400},
		{"POST", "/api/topics", `{"name":"x"} {"name":"y"}`, 400},
		{"POST", "/api/topics", map[string]any{"name": "bad name"}, 400},
		{"POST", "/api/topics", map[string]any{"name": ""}, 400},
		{"POST", "/api/topics", map[string]any{"name": ".."}, 400},
		{"POST", "/api/topics", map[string]any{"name": huge}, 400},
		{"POST", "/api/topics", map[string]any{"name": "x", "partitions": -1}, 400},
		{"POST", "/api/topics", map[string]any{"name": "x", "partitions": 1 << 20}, 400},
		{"POST", "/api/topics", `{"name":"x","partitions":99999999999}`, 400},
		{"POST", "/api/topics", map[string]any{"name": "x", "replication_factor": -2}, 400},
		{"POST", "/api/topics", map[string]any{"name": "x", "configs": map[string]string{"no.such.config": "1"}}, 400},
		{"POST", "/api/topics", map[string]any{"name": "x", "configs": map[string]string{"retention.ms": "soon"}}, 400},
		{"GET", "/api/topics?page=0", nil, 400},
		{"GET", "/api/topics?page=x", nil, 400},
		{"GET", "/api/topics?page_size=100000", nil, 400},
		{"GET", "/api/topics/bad%20name", nil, 400},
		{"GET", "/api/topics/nosuch", nil, 404},
		{"PUT", "/api/topics/t/configs", `[]`, 400},
		{"PUT", "/api/topics/t/configs", map[string]any{"configs": map[string]any{}}, 400},
		{"PUT", "/api/topics/t/configs", map[string]any{"configs": map[string]any{"nope": "1"}}, 400},
		{"PUT", "/api/topics/t/configs", map[string]any{"configs": map[string]any{"cleanup.policy": "sometimes"}}, 400},
		{"PUT", "/api/topics/nosuch/configs", map[string]any{"configs": map[string]any{"retention.ms": "1"}}, 404},
		{"POST", "/api/topics/t/partitions", map[string]any{"count": -1}, 400},
		{"POST", "/api/topics/t/partitions", map[string]any{"count": 0}, 400},
		{"POST", "/api/topics/t/partitions", `{"count":"two"}`, 400},
		{"POST", "/api/topics/nosuch/partitions", map[string]any{"count": 2}, 404},
		{"DELETE", "/api/topics/bad%20name", nil, 400},
		{"GET", "/api/topics/t/messages?partition=-1", nil, 400},
		{"GET", "/api/topics/t/messages?partition=7", nil, 404},
		{"GET", "/api/topics/t/messages?partition=x", nil, 400},
		{"GET", "/api/topics/t/messages?start=sideways", nil, 400},
		{"GET", "/api/topics/t/messages?start=offset&offset=-5", nil, 400},
		{"GET", "/api/topics/t/messages?start=offset&offset=99999999999999999999", nil, 400},
		{"GET", "/api/topics/t/messages?start=offset&offset=9223372036854775807", nil, 400},
		{"GET", "/api/topics/t/messages?start=timestamp&timestamp=yesterday", nil, 400},
		{"GET", "/api/topics/t/messages?start=timestamp&timestamp=-1", nil, 400},
		{"GET", "/api/topics/t/messages?limit=0", nil, 400},
		{"GET", "/api/topics/t/messages?limit=100000", nil, 400},
		{"GET", "/api/topics/t/messages?max_scan=0", nil, 400},
		{"GET", "/api/topics/nosuch/messages", nil, 404},
		{"POST", "/api/topics/t/messages", `{"value":`, 400},
		{"POST", "/api/topics/t/messages", map[string]any{"value": "v", "partition": -1}, 400},
		{"POST", "/api/topics/t/messages", map[string]any{"value": "v", "partition": 5}, 400},
		{"POST", "/api/topics/t/messages", map[string]any{"value": "v", "headers": []map[string]string{{"key": "", "value": "x"}}}, 400},
		{"POST", "/api/topics/t/messages", map[string]any{"value": strings.Repeat("v", 2<<20)}, 400},
		{"POST", "/api/topics/t/messages", map[string]any{"value": "{}", "value_subject": "nosuch-value"}, 404},
		{"POST", "/api/topics/bad%20name/messages", map[string]any{"value": "v"}, 400},
		{"GET", "/api/topics/t/tail?partition=-3", nil, 400},
		{"GET", "/api/topics/t/tail?partition=9", nil, 404},
		{"GET", "/api/topics/t/tail?from=x", nil, 400},
		{"GET", "/api/groups/nosuch", nil, 404},
		{"GET", "/api/groups/" + strings.Repeat("g", 2000), nil, 400},
		{"POST", "/api/groups/g/reset", `{"topic":"t","to":"earliest"`, 400},
		{"POST", "/api/groups/g/reset", map[string]any{"topic": "t", "to": "yesterday"}, 400},
		{"POST", "/api/groups/g/reset", map[string]any{"topic": "t", "to": "offset", "offset": -1}, 400},
		{"POST", "/api/groups/g/reset", map[string]any{"topic": "t", "to": "timestamp", "timestamp": -1}, 400},
		{"POST", "/api/groups/g/reset", map[string]any{"topic": "bad name", "to": "earliest"}, 400},
		{"POST", "/api/groups/g/reset", map[string]any{"topic": "nosuch", "to": "earliest", "dry_run": true}, 404},
		{"POST", "/api/groups/g/reset", map[string]any{"topic": "t", "to": "earliest", "partitions": []int{3}, "dry_run": true}, 400},
		{"DELETE", "/api/groups/nosuch", nil, 404},
		{"GET", "/api/schemas/subjects/nosuch", nil, 404},
		{"GET", "/api/schemas/subjects/s/versions/zero", nil, 400},
		{"GET", "/api/schemas/subjects/s/versions/-1", nil, 400},
		{"GET", "/api/schemas/subjects/s/diff?from=1", nil, 400},
		{"POST", "/api/schemas/subjects/s/compatibility", map[string]any{"schema": ""}, 400},
		{"POST", "/api/schemas/subjects/s/compatibility", map[string]any{"schema": "{}", "schemaType": "XML"}, 400},
		{"POST", "/api/schemas/subjects/s/compatibility", `{"schema":1}`, 400},
		{"POST", "/api/schemas/subjects/s/versions", map[string]any{"schema": "not a schema"}, 422},
		{"GET", "/api/nosuch", nil, 404},
	}
	for _, c := range cases {
		st, body := e.call(c.method, c.path, c.body)
		var msg struct {
			Error string `json:"error"`
		}
		if st != c.want || json.Unmarshal(body, &msg) != nil || msg.Error == "" {
			t.Errorf("%s %s %v: %d %s; want %d with an error message", c.method, c.path, truncated(c.body), st, body, c.want)
		}
	}
	// Still serving.
	e.must("GET", "/api/topics", nil, 200, nil)
}

func truncated(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func TestAPIMessages(t *testing.T) {
	e := start(t)
	e.createTopic("m", 1)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var rs []*kgo.Record
	for i := range 100 {
		r := &kgo.Record{Topic: "m", Key: []byte(fmt.Sprintf("k%03d", i)), Value: []byte(fmt.Sprintf("value-%d", i)),
			Timestamp: base.Add(time.Duration(i) * time.Second)}
		if i%10 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "tenth", Value: []byte(fmt.Sprint(i))}}
		}
		rs = append(rs, r)
	}
	rs[42].Value = []byte("<script>alert('x')</script>")
	e.produce(rs...)

	get := func(q string) console.BrowseResult {
		t.Helper()
		var res console.BrowseResult
		e.must("GET", "/api/topics/m/messages?"+q, nil, 200, &res)
		return res
	}
	offsets := func(res console.BrowseResult) []int64 {
		var out []int64
		for _, m := range res.Messages {
			out = append(out, m.Offset)
		}
		return out
	}
	if r := get("start=newest&limit=3"); !slices.Equal(offsets(r), []int64{99, 98, 97}) || r.HighWatermark != 100 {
		t.Fatalf("newest: %v %+v", offsets(r), r)
	}
	if r := get("start=oldest&limit=3"); !slices.Equal(offsets(r), []int64{0, 1, 2}) || r.NextOffset != 3 {
		t.Fatalf("oldest: %v next %d", offsets(r), r.NextOffset)
	}
	if r := get("start=offset&offset=50&limit=2"); !slices.Equal(offsets(r), []int64{50, 51}) {
		t.Fatalf("offset: %v", offsets(r))
	}
	ts := base.Add(30 * time.Second).UnixMilli()
	if r := get(fmt.Sprintf("start=timestamp&timestamp=%d&limit=1", ts)); !slices.Equal(offsets(r), []int64{30}) || r.Messages[0].Timestamp != ts {
		t.Fatalf("timestamp: %v", r.Messages)
	}
	if r := get("start=oldest&key=k05"); !slices.Equal(offsets(r), []int64{50, 51, 52, 53, 54, 55, 56, 57, 58, 59}) || r.Scanned != 100 || !r.Filtered {
		t.Fatalf("key filter: %v scanned %d", offsets(r), r.Scanned)
	}
	if r := get("start=newest&value=value-1&limit=2"); !slices.Equal(offsets(r), []int64{19, 18}) {
		t.Fatalf("newest value filter: %v", offsets(r))
	}
	if r := get("start=oldest&header=tenth=3"); !slices.Equal(offsets(r), []int64{30}) || r.Messages[0].Headers[0].Value != "30" {
		t.Fatalf("header filter: %v", r.Messages)
	}
	if r := get("start=oldest&header=tenth&limit=500"); len(r.Messages) != 10 {
		t.Fatalf("header name filter: %v", offsets(r))
	}
	// A capped scan says how far it got.
	if r := get("start=oldest&value=nothing-matches&max_scan=25"); r.Scanned != 25 || r.InRange != 100 || !r.Capped || len(r.Messages) != 0 {
		t.Fatalf("capped scan: scanned %d of %d capped %v", r.Scanned, r.InRange, r.Capped)
	}
	r := get("start=offset&offset=42&limit=1")
	if *r.Messages[0].Value != "<script>alert('x')</script>" {
		t.Fatalf("value %q", *r.Messages[0].Value)
	}
	// The page shows it as text.
	st, page := e.call("GET", "/topics/m/messages?start=offset&offset=42&limit=1", nil)
	if st != 200 || strings.Contains(string(page), "<script>alert") || !strings.Contains(string(page), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") {
		t.Fatalf("page %d does not escape the value:\n%s", st, page)
	}

	// Produce through the API and find the record.
	var pr console.ProduceResult
	e.must("POST", "/api/topics/m/messages", map[string]any{"key": "api-key", "value": "from the api",
		"headers": []map[string]string{{"key": "h1", "value": "v1"}}}, 201, &pr)
	if pr.Offset != 100 {
		t.Fatalf("produced at %+v", pr)
	}
	r = get("start=newest&limit=1")
	m := r.Messages[0]
	if m.Offset != 100 || *m.Key != "api-key" || *m.Value != "from the api" || len(m.Headers) != 1 || m.Headers[0].Key != "h1" {
		t.Fatalf("produced message %+v", m)
	}
	// A null value and binary bytes.
	e.produce(&kgo.Record{Topic: "m", Key: []byte{0xff, 0xfe}, Value: nil})
	m = get("start=newest&limit=1").Messages[0]
	if m.Value != nil || m.ValueEncoding != "null" || m.KeyEncoding != "base64" || *m.Key != "//4=" {
		t.Fatalf("null/binary: %+v", m)
	}
}

func TestAPILargeValueTruncated(t *testing.T) {
	e := start(t)
	e.createTopic("big", 1)
	big := strings.Repeat("a", 200<<10)
	e.produce(&kgo.Record{Topic: "big", Value: []byte(big)})
	var r console.BrowseResult
	e.must("GET", "/api/topics/big/messages", nil, 200, &r)
	m := r.Messages[0]
	if !m.Truncated || m.ValueSize != len(big) || len(*m.Value) != 64<<10 {
		t.Fatalf("truncated %v size %d shown %d", m.Truncated, m.ValueSize, len(*m.Value))
	}
	e.must("GET", "/api/topics/big/messages?start=offset&offset=0&limit=1&full=1", nil, 200, &r)
	if m := r.Messages[0]; m.Truncated || *m.Value != big {
		t.Fatalf("full: truncated %v len %d", m.Truncated, len(*m.Value))
	}
}

func TestAPITail(t *testing.T) {
	e := start(t)
	e.createTopic("tail", 1)
	e.produce(&kgo.Record{Topic: "tail", Value: []byte("old")})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/api/topics/tail/tail?partition=0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("tail: %d %s", resp.StatusCode, ct)
	}
	buf := make([]byte, 0, 4096)
	read := func(want string) {
		t.Helper()
		deadline := time.Now().Add(testTimeout)
		for !strings.Contains(string(buf), want) {
			if time.Now().After(deadline) {
				t.Fatalf("tail never sent %q; got %q", want, buf)
			}
			chunk := make([]byte, 4096)
			n, err := resp.Body.Read(chunk)
			if err != nil {
				t.Fatalf("tail read: %v (got %q)", err, buf)
			}
			buf = append(buf, chunk[:n]...)
		}
	}
	read("event: start")
	e.produce(&kgo.Record{Topic: "tail", Value: []byte("new <b>one</b>")})
	read("event: message")
	read("\n\n")
	if strings.Contains(string(buf), `"old"`) {
		t.Fatalf("tail from the end sent an old record: %q", buf)
	}
	if !strings.Contains(string(buf), `new \u003cb\u003eone\u003c/b\u003e`) {
		t.Fatalf("tail event: %q", buf)
	}
}

func TestAPIGroups(t *testing.T) {
	e := start(t)
	e.createTopic("g", 2)
	old := time.Now().Add(-90 * time.Second)
	for i := range 10 {
		e.produce(&kgo.Record{Topic: "g", Partition: 0, Value: []byte("x"), Timestamp: old.Add(time.Duration(i) * time.Second)},
			&kgo.Record{Topic: "g", Partition: 1, Value: []byte("y"), Timestamp: old.Add(time.Duration(i) * time.Second)})
	}
	ctx := t.Context()
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "g", Partition: 0, At: 2, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "g", Partition: 1, At: 10, LeaderEpoch: -1})
	if r, err := e.adm.CommitOffsets(ctx, "grp", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	var gs []console.GroupRow
	testwait.Until(t, testTimeout, "the sampler to see the group's lag", func() (bool, string) {
		e.must("GET", "/api/groups", nil, 200, &gs)
		return len(gs) == 1 && gs[0].Lag == 8, fmt.Sprintf("%+v", gs)
	})
	if gs[0].Group != "grp" || gs[0].State != "Empty" || gs[0].LagSeconds < 80 {
		t.Fatalf("group row %+v", gs[0])
	}
	var d console.GroupDetail
	testwait.Until(t, testTimeout, "lag history points", func() (bool, string) {
		e.must("GET", "/api/groups/grp", nil, 200, &d)
		return len(d.History) >= 2, fmt.Sprintf("%d points", len(d.History))
	})
	if d.Lag != 8 || len(d.Partitions) != 2 || d.Partitions[0].Committed != 2 || d.Partitions[0].End != 10 || d.Partitions[0].Lag != 8 ||
		d.Partitions[1].Lag != 0 || d.Partitions[1].LagSeconds != 0 {
		t.Fatalf("detail %+v", d)
	}
	// The record at offset 2 was written 88 s ago (its timestamp).
	if s := d.Partitions[0].LagSeconds; s < 85 || s > 85+testTimeout.Seconds() {
		t.Fatalf("lag seconds %v", s)
	}
	if h := d.History[len(d.History)-1]; h.Records != 8 {
		t.Fatalf("history %+v", d.History)
	}

	// Reset: dry run changes nothing, then apply.
	var rr console.ResetResult
	e.must("POST", "/api/groups/grp/reset", map[string]any{"topic": "g", "to": "earliest", "dry_run": true}, 200, &rr)
	if rr.Applied || len(rr.Partitions) != 2 || rr.Partitions[0].From != 2 || rr.Partitions[0].To != 0 || rr.Partitions[1].From != 10 {
		t.Fatalf("dry run %+v", rr)
	}
	if o, _ := e.adm.FetchOffsets(ctx, "grp"); o["g"][0].At != 2 {
		t.Fatalf("dry run committed %+v", o)
	}
	e.must("POST", "/api/groups/grp/reset", map[string]any{"topic": "g", "partitions": []int{1}, "to": "offset", "offset": 4}, 200, &rr)
	if !rr.Applied || len(rr.Partitions) != 1 || rr.Partitions[0].To != 4 {
		t.Fatalf("apply %+v", rr)
	}
	if o, _ := e.adm.FetchOffsets(ctx, "grp"); o["g"][1].At != 4 || o["g"][0].At != 2 {
		t.Fatalf("after apply %+v", o)
	}
	e.must("POST", "/api/groups/grp/reset", map[string]any{"topic": "g", "to": "timestamp", "timestamp": old.Add(5 * time.Second).UnixMilli()}, 200, &rr)
	if rr.Partitions[0].To != 5 || rr.Partitions[1].To != 5 {
		t.Fatalf("timestamp reset %+v", rr)
	}
	e.must("POST", "/api/groups/grp/reset", map[string]any{"topic": "g", "to": "latest"}, 200, &rr)
	if rr.Partitions[0].To != 10 {
		t.Fatalf("latest reset %+v", rr)
	}
	e.must("DELETE", "/api/groups/grp", nil, 200, nil)
	e.must("GET", "/api/groups/grp", nil, 404, nil)
}

// TestAPIGroupActive: resetting or deleting a group with members is refused with 409.
func TestAPIGroupActive(t *testing.T) {
	e := start(t)
	e.createTopic("act", 1)
	e.produce(&kgo.Record{Topic: "act", Value: []byte("x")})
	cons, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.ConsumerGroup("live"), kgo.ConsumeTopics("act"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	testwait.Until(t, testTimeout, "the consumer to join", func() (bool, string) {
		fs := cons.PollRecords(t.Context(), 10)
		_ = fs
		var d console.GroupDetail
		st, _ := e.call("GET", "/api/groups/live", nil)
		if st != 200 {
			return false, fmt.Sprint(st)
		}
		e.must("GET", "/api/groups/live", nil, 200, &d)
		return len(d.Members) == 1 && d.State == "Stable", fmt.Sprintf("%+v", d)
	})
	e.must("POST", "/api/groups/live/reset", map[string]any{"topic": "act", "to": "earliest"}, http.StatusConflict, nil)
	e.must("DELETE", "/api/groups/live", nil, http.StatusConflict, nil)
}

func TestAPISchemas(t *testing.T) {
	e := start(t)
	v1 := `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	v2 := `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	bad := `{"type":"record","name":"User","fields":[{"name":"age","type":"int"}]}`
	var cr console.CompatibilityResult
	e.must("POST", "/api/schemas/subjects/users-value/compatibility", map[string]any{"schema": v1}, 200, &cr)
	if !cr.Compatible {
		t.Fatalf("first schema: %+v", cr)
	}
	e.must("POST", "/api/schemas/subjects/users-value/versions", map[string]any{"schema": v1}, 201, nil)
	e.must("POST", "/api/schemas/subjects/users-value/compatibility", map[string]any{"schema": bad}, 200, &cr)
	if cr.Compatible {
		t.Fatalf("incompatible schema accepted: %+v", cr)
	}
	e.must("POST", "/api/schemas/subjects/users-value/compatibility", map[string]any{"schema": v2}, 200, &cr)
	if !cr.Compatible {
		t.Fatalf("v2: %+v", cr)
	}
	e.must("POST", "/api/schemas/subjects/users-value/versions", map[string]any{"schema": v2}, 201, nil)
	var subjects []string
	e.must("GET", "/api/schemas/subjects", nil, 200, &subjects)
	if !slices.Contains(subjects, "users-value") {
		t.Fatalf("subjects %v", subjects)
	}
	var si console.SubjectInfo
	e.must("GET", "/api/schemas/subjects/users-value", nil, 200, &si)
	if !slices.Equal(si.Versions, []int{1, 2}) || si.Compatibility != "BACKWARD" {
		t.Fatalf("subject %+v", si)
	}
	var sv console.SchemaVersion
	e.must("GET", "/api/schemas/subjects/users-value/versions/latest", nil, 200, &sv)
	if sv.Version != 2 || !strings.Contains(sv.Schema, "age") {
		t.Fatalf("latest %+v", sv)
	}
	var d console.Diff
	e.must("GET", "/api/schemas/subjects/users-value/diff?from=1&to=2", nil, 200, &d)
	var added []string
	for _, l := range d.Lines {
		if l.Op == "+" {
			added = append(added, strings.TrimSpace(l.Text))
		}
	}
	if !slices.ContainsFunc(added, func(s string) bool { return strings.Contains(s, `"age"`) }) {
		t.Fatalf("diff %+v", d.Lines)
	}
	e.must("GET", "/api/schemas/subjects/users-value/versions/9", nil, 404, nil)

	// Produce Avro from JSON and see it decoded with its schema id and subject.
	e.createTopic("users", 1)
	var pr console.ProduceResult
	e.must("POST", "/api/topics/users/messages", map[string]any{"value": `{"name":"ada","age":36}`, "value_subject": "users-value"}, 201, &pr)
	if pr.SchemaID == 0 {
		t.Fatalf("produce %+v", pr)
	}
	e.must("POST", "/api/topics/users/messages", map[string]any{"value": `{"nom":"x"}`, "value_subject": "users-value"}, 400, nil)
	var r console.BrowseResult
	e.must("GET", "/api/topics/users/messages", nil, 200, &r)
	m := r.Messages[0]
	if m.ValueEncoding != "avro" || m.ValueSchema == nil || m.ValueSchema.ID != pr.SchemaID || m.ValueSchema.Subject != "users-value" ||
		m.ValueSchema.Version != 2 || *m.Value != `{"name":"ada","age":36}` {
		t.Fatalf("avro message %+v schema %+v", m, m.ValueSchema)
	}
}

func TestAPICloudEvents(t *testing.T) {
	e := start(t)
	e.createTopic("ce", 1)
	e.produce(&kgo.Record{Topic: "ce", Value: []byte(`{"x":1}`), Headers: []kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("42")},
		{Key: "ce_source", Value: []byte("/orders")}, {Key: "ce_type", Value: []byte("order.placed")},
		{Key: "content-type", Value: []byte("application/json")}}})
	var r console.BrowseResult
	e.must("GET", "/api/topics/ce/messages", nil, 200, &r)
	ce := r.Messages[0].CloudEvent
	if ce == nil || ce.ID != "42" || ce.Source != "/orders" || ce.Type != "order.placed" || ce.DataContentType != "application/json" {
		t.Fatalf("cloud event %+v", ce)
	}
}

func TestReadOnly(t *testing.T) {
	e := start(t, samsatest.WithSetting("samsa.console.read.only", "true"))
	e.produce(&kgo.Record{Topic: "ro", Value: []byte("x")}) // auto-created
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/topics", map[string]any{"name": "x"}},
		{"PUT", "/api/topics/ro/configs", map[string]any{"configs": map[string]any{"retention.ms": "1"}}},
		{"POST", "/api/topics/ro/partitions", map[string]any{"count": 3}},
		{"DELETE", "/api/topics/ro", nil},
		{"POST", "/api/topics/ro/messages", map[string]any{"value": "v"}},
		{"POST", "/api/groups/g/reset", map[string]any{"topic": "ro", "to": "earliest"}},
		{"DELETE", "/api/groups/g", nil},
		{"POST", "/api/schemas/subjects/s/versions", map[string]any{"schema": `"string"`}},
		{"POST", "/topics", "name=x"},
		{"POST", "/topics/ro/delete", "confirm=ro"},
		{"POST", "/topics/ro/produce", "value=v"},
	} {
		if st, body := e.call(c.method, c.path, c.body); st != http.StatusForbidden {
			t.Errorf("%s %s: %d %s; want 403", c.method, c.path, st, body)
		}
	}
	// Reads and dry runs still work; nothing changed.
	var tl console.TopicList
	e.must("GET", "/api/topics?filter=x", nil, 200, &tl)
	if tl.Total != 0 {
		t.Fatalf("topic created in read-only mode: %+v", tl)
	}
	e.must("POST", "/api/groups/g/reset", map[string]any{"topic": "ro", "to": "earliest", "dry_run": true}, 200, nil)
	var ci console.ClusterInfo
	e.must("GET", "/api/cluster", nil, 200, &ci)
	if !ci.ReadOnly {
		t.Fatal("cluster info does not say read-only")
	}
	// The pages hide the forms that change things.
	for _, p := range []string{"/topics", "/topics/ro", "/topics/ro/messages"} {
		st, body := e.call("GET", p, nil)
		if st != 200 || strings.Contains(string(body), `method="post"`) {
			t.Errorf("%s: %d, has a change form in read-only mode", p, st)
		}
	}
}

// TestPagesEscapeNames: a group name with a slash and a space links to its own page.
func TestPagesEscapeNames(t *testing.T) {
	e := start(t)
	e.createTopic("esc", 1)
	e.produce(&kgo.Record{Topic: "esc", Value: []byte("x")})
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "esc", Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := e.adm.CommitOffsets(t.Context(), "team a/b", offs); err != nil {
		t.Fatal(err)
	}
	st, body := e.call("GET", "/groups", nil)
	if st != 200 || !strings.Contains(string(body), `href="/groups/team%20a%2Fb"`) {
		t.Fatalf("groups page %d lacks the escaped link:\n%s", st, body)
	}
	st, body = e.call("GET", "/groups/team%20a%2Fb", nil)
	if st != 200 || !strings.Contains(string(body), "Group team a/b") {
		t.Fatalf("group page %d:\n%.3000s", st, body)
	}
	e.must("GET", "/api/groups/team%20a%2Fb", nil, 200, nil)
}

// TestAPIProtobufAndJSONSchemaDecoded: Protobuf and JSON Schema data in the registry's wire
// format show decoded, with schema id and subject.
func TestAPIProtobufAndJSONSchemaDecoded(t *testing.T) {
	e := start(t)
	e.createTopic("pb", 1)
	const schema = `syntax = "proto3"; package shop; message Order { string id = 1; int64 cents = 2; }`
	var reg struct {
		ID int `json:"id"`
	}
	e.must("POST", "/api/schemas/subjects/pb-value/versions", map[string]any{"schema": schema, "schemaType": "PROTOBUF"}, 201, &reg)
	fd, err := serde.CompileProtobuf(schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	md := fd.Messages().ByName("Order")
	msg := dynamicpb.NewMessage(md)
	msg.Set(md.Fields().ByName("id"), protoreflect.ValueOfString("o-1"))
	msg.Set(md.Fields().ByName("cents"), protoreflect.ValueOfInt64(1250))
	body, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := serde.AppendHeader(nil, reg.ID)
	value := append(serde.AppendMessageIndexes(hdr, []int{0}), body...)
	e.produce(&kgo.Record{Topic: "pb", Value: value})

	const jschema = `{"type":"object","properties":{"n":{"type":"integer"}}}`
	var jreg struct {
		ID int `json:"id"`
	}
	e.must("POST", "/api/schemas/subjects/pb-json/versions", map[string]any{"schema": jschema, "schemaType": "JSON"}, 201, &jreg)
	jhdr, _ := serde.AppendHeader(nil, jreg.ID)
	e.produce(&kgo.Record{Topic: "pb", Value: append(jhdr, `{"n":7}`...)})

	var r console.BrowseResult
	e.must("GET", "/api/topics/pb/messages?start=oldest", nil, 200, &r)
	if len(r.Messages) != 2 {
		t.Fatalf("%d messages", len(r.Messages))
	}
	m := r.Messages[0]
	var got map[string]any
	if m.ValueEncoding != "protobuf" || m.ValueSchema == nil || m.ValueSchema.ID != reg.ID || m.ValueSchema.Subject != "pb-value" ||
		m.ValueSchema.Type != "PROTOBUF" || json.Unmarshal([]byte(*m.Value), &got) != nil || got["id"] != "o-1" || got["cents"] != "1250" {
		t.Fatalf("protobuf message %+v (%v) schema %+v", m, got, m.ValueSchema)
	}
	m = r.Messages[1]
	if m.ValueEncoding != "json" || m.ValueSchema == nil || m.ValueSchema.ID != jreg.ID || m.ValueSchema.Type != "JSON" || *m.Value != `{"n":7}` {
		t.Fatalf("json schema message %+v schema %+v", m, m.ValueSchema)
	}
}
