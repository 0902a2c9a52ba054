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
