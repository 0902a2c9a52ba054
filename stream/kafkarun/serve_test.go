package kafkarun_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
)

// TestTableServer serves a table from two instances that share its tasks: a key asked of
// either instance is answered with the owner's value (forwarded when the other one owns it),
// an absent key is 404, a scan from either instance returns every row in key order, and bad
// requests get a 4xx with a message.
func TestTableServer(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	compact := "compact"
	createTopic(t, adm, "users", 2, map[string]*string{"cleanup.policy": &compact})
	createTopic(t, adm, "clicks", 2, nil)
	createTopic(t, adm, "enriched", 2, nil)
	want := map[string]string{"u1": "eu", "u2": "us", "u3": "apac", "u4": "eu", "u5": "us", "u6": "eu"}
	var kvs []string
	for k, v := range want {
		kvs = append(kvs, k, v)
	}
	produceKV(t, cl, "users", kvs...)

	apps := make([]*kafkarun.App, 2)
	urls := make([]string, 2)
	for i := range apps {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p, users := tablePipeline()
		a, err := kafkarun.New(p, kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "served",
			StateDir: t.TempDir(), ApplicationServer: ln.Addr().String(),
			CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		srv := kafkarun.NewTableServer(a)
		if err := kafkarun.ServeTable(srv, users, kafkarun.KeyFormat[string]{}); err != nil {
			t.Fatal(err)
		}
		if err := kafkarun.ServeTable(srv, users, kafkarun.KeyFormat[string]{}); err == nil {
			t.Fatal("serving one table twice: no error")
		}
		hs := &http.Server{Handler: srv}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		apps[i], urls[i] = a, "http://"+ln.Addr().String()
		runApp(t, a)
	}
	waitFor(t, "both instances running one task each", 30*time.Second, func() bool {
		return len(apps[0].Metrics().Tasks) == 1 && len(apps[1].Metrics().Tasks) == 1
	})

	get := func(u string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("GET %s: %d, not JSON: %q", u, resp.StatusCode, body)
		}
		return resp.StatusCode, m
	}
	for i, base := range urls {
		for k, v := range want {
			var code int
			var m map[string]any
			waitFor(t, fmt.Sprintf("instance %d serves %s", i, k), 30*time.Second, func() bool {
				code, m = get(base + "/stores/users-table/keys/" + url.PathEscape(k))
				return code == http.StatusOK && m["value"] == v
			})
			task, _ := apps[0].TaskOf([]byte(k))
			if int32(m["task"].(float64)) != task {
				t.Errorf("instance %d, key %s: task %v, want %d", i, k, m["task"], task)
			}
			if owner := apps[0].Owner(task); m["instance"] != owner {
				t.Errorf("instance %d, key %s: answered by %v, want the owner %s", i, k, m["instance"], owner)
			}
		}
		if code, m := get(base + "/stores/users-table/keys/nobody"); code != http.StatusNotFound || m["error"] == nil {
			t.Errorf("absent key: %d %v, want 404", code, m)
		}
		code, m := get(base + "/stores/users-table/keys")
		if code != http.StatusOK || m["partial"] != false {
			t.Fatalf("scan from instance %d: %d %v", i, code, m)
		}
		rows := m["rows"].([]any)
		if len(rows) != len(want) {
			t.Fatalf("scan from instance %d: %d rows, want %d: %v", i, len(rows), len(want), rows)
		}
		prev := ""
		for _, r := range rows {
			row := r.(map[string]any)
			k := row["key"].(string)
			if k <= prev || row["value"] != want[k] {
				t.Errorf("scan from instance %d: row %v out of order or wrong (want %q)", i, row, want[k])
			}
			prev = k
		}
		code, m = get(base + "/stores/users-table/keys?from=u2&to=u5&limit=2")
		if rows := m["rows"].([]any); code != http.StatusOK || len(rows) != 2 || rows[0].(map[string]any)["key"] != "u2" || rows[1].(map[string]any)["key"] != "u3" {
			t.Errorf("range scan from instance %d: %d %v, want u2 and u3", i, code, m)
		}
		for _, bad := range []struct {
			path string
			code int
		}{
			{"/stores/nope/keys/u1", http.StatusNotFound},
			{"/stores/users-table/keys?limit=-1", http.StatusBadRequest},
			{"/stores/users-table/keys?limit=abc", http.StatusBadRequest},
			{"/elsewhere", http.StatusNotFound},
		} {
			if code, m := get(base + bad.path); code != bad.code || m["error"] == nil {
				t.Errorf("GET %s: %d %v, want %d with an error", bad.path, code, m, bad.code)
			}
		}
	}
}

// TestTableServerStandby: with Standbys 1, when a key's owner is gone but still holds the
// task in the group (a static member, within its session timeout), the instance keeping a
// standby copy answers from it, flagged "stale"; keys it owns are answered fresh.
func TestTableServerStandby(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	compact := "compact"
	createTopic(t, adm, "users", 2, map[string]*string{"cleanup.policy": &compact})
	createTopic(t, adm, "clicks", 2, nil)
	createTopic(t, adm, "enriched", 2, nil)
	want := map[string]string{"u1": "eu", "u2": "us", "u3": "apac", "u4": "eu", "u5": "us", "u6": "eu"}
	var kvs []string
	for k, v := range want {
		kvs = append(kvs, k, v)
	}
	produceKV(t, cl, "users", kvs...)

	apps := make([]*kafkarun.App, 2)
	urls := make([]string, 2)
	stops := make([]func() error, 2)
	servers := make([]*http.Server, 2)
	var users stream.Table[string, string]
	for i := range apps {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var p *stream.Pipeline
		p, users = tablePipeline()
		a, err := kafkarun.New(p, kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "served-standby",
			StateDir: t.TempDir(), ApplicationServer: ln.Addr().String(), Standbys: 1,
			InstanceID: fmt.Sprintf("instance-%d", i), SessionTimeout: 60 * time.Second,
			CommitInterval: 200 * time.Millisecond, TickInterval: 20 * time.Millisecond, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		srv := kafkarun.NewTableServer(a)
		if err := kafkarun.ServeTable(srv, users, kafkarun.KeyFormat[string]{}); err != nil {
			t.Fatal(err)
		}
		servers[i] = &http.Server{Handler: srv}
		go servers[i].Serve(ln)
		t.Cleanup(func() { servers[i].Close() })
		apps[i], urls[i] = a, "http://"+ln.Addr().String()
		stops[i] = runApp(t, a)
	}
	waitFor(t, "each instance running one task and a standby of the other", 30*time.Second, func() bool {
		m0, m1 := apps[0].Metrics(), apps[1].Metrics()
		return len(m0.Tasks) == 1 && len(m1.Tasks) == 1 && len(m0.Standbys) == 1 && len(m1.Standbys) == 1
	})
	// The keys of instance 0's task, once instance 1's standby has applied them.
	var theirs, ours []string
	for k := range want {
		kb, _ := stream.StringCoder{}.Encode(k)
		task, err := apps[0].TaskOf(kb)
		if err != nil {
			t.Fatal(err)
		}
		if task == apps[0].Metrics().Tasks[0] {
			theirs = append(theirs, k)
		} else {
			ours = append(ours, k)
		}
	}
	if len(theirs) == 0 || len(ours) == 0 {
		t.Fatalf("precondition: keys on both tasks (%v, %v)", theirs, ours)
	}
	waitFor(t, "instance 1's standby has instance 0's rows", 30*time.Second, func() bool {
		for _, k := range theirs {
			v, ok, err := kafkarun.LookupStandby(apps[1], users, k, stream.StringCoder{})
			if err != nil || !ok || v != want[k] {
				return false
			}
		}
		return true
	})
	// Instance 0 stops (a static member: it stays in the group, owning its task) and its
	// HTTP server goes away.
	if err := stops[0](); err != nil {
		t.Fatal(err)
	}
	servers[0].Close()

	get := func(u string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("GET %s: %d, not JSON: %v", u, resp.StatusCode, err)
		}
		return resp.StatusCode, m
	}
	for _, k := range theirs {
		code, m := get(urls[1] + "/stores/users-table/keys/" + url.PathEscape(k))
		if code != http.StatusOK || m["value"] != want[k] || m["stale"] != true {
			t.Errorf("key %s of the stopped owner: %d %v, want 200 with %q from the standby, stale", k, code, m, want[k])
		}
	}
	for _, k := range ours {
		code, m := get(urls[1] + "/stores/users-table/keys/" + url.PathEscape(k))
		if code != http.StatusOK || m["value"] != want[k] || m["stale"] != nil {
			t.Errorf("key %s of the answering instance: %d %v, want 200 with %q, not stale", k, code, m, want[k])
		}
	}
}
