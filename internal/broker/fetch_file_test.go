package broker_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security/securitytest"
	"github.com/samsa-streaming/samsa/internal/server"
)

// TestFetchSendsFileData consumes a topic large enough for the sendfile path (responses of
// 32 KiB and more), spread over several segments and partitions, with the newest Fetch
// (flexible, compact length prefixes) and with Fetch v11 (int32 length prefixes), and checks
// that every record comes back intact and in order and that data went out with sendfile; and
// the same over a TLS listener, where the file regions are copied through chunk buffers.
func TestFetchSendsFileData(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	srv := ca.Issue(t, dir, "broker", pkix.Name{CommonName: "localhost"}, true)
	settings := config.DefaultBroker()
	for k, v := range map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "ssl.keystore.location": srv.Keystore} {
		if err := settings.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	s, err := server.Start(server.Config{DataDir: t.TempDir(), RegistryAddr: server.RegistryOff, HTTPAddr: server.HTTPOff, Broker: settings,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	plainAddr, tlsAddr := s.ListenerAddr("PLAINTEXT"), s.ListenerAddr("SSL")
	createTopic(t, plainAddr, "big", 3, map[string]*string{"segment.bytes": ptr("65536")})
	prod := client(t, plainAddr, kgo.DefaultProduceTopic("big"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	const n = 3000
	value := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%05d|", i)), 30+i%40) }
	ctx := ctxT(t)
	for i := 0; i < n; i++ {
		prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: value(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stats := s.Broker().Stats()
	v11 := func() *kversion.Versions { v := kversion.Stable(); v.SetMaxKeyVersion(1, 11); return v }()
	for _, tc := range []struct {
		name string
		max  *kversion.Versions
		tls  bool
	}{
		{"fetch v16", kversion.Stable(), false},
		{"fetch v11", v11, false},
		// Over TLS the same file-backed frames are written by copying the regions in chunks.
		{"fetch v16 over TLS", kversion.Stable(), true},
		{"fetch v11 over TLS", v11, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter, addr, opts := &stats.SendfileBytes, plainAddr, []kgo.Opt(nil)
			if tc.tls {
				counter, addr = &stats.TLSFileBytes, tlsAddr
				opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost"}))
			}
			before := counter.Load()
			cl := client(t, addr, append(opts, kgo.ConsumeTopics("big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.MaxVersions(tc.max), kgo.FetchMaxPartitionBytes(256<<10))...)
			next := map[int32]int{}
			seen := 0
			for seen < n {
				fs := cl.PollFetches(ctx)
				if err := fs.Err(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					var i int
					fmt.Sscan(string(r.Key), &i)
					if !bytes.Equal(r.Value, value(i)) {
						t.Fatalf("record %d: value corrupted", i)
					}
					if r.Offset != int64(next[r.Partition]) {
						t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
					}
					next[r.Partition]++
					seen++
				})
			}
			if sent := counter.Load() - before; sent == 0 {
				t.Fatal("no record data went out from the segment files")
			}
		})
	}
}

// TestIdleTLSConnectionsClosed: connections.max.idle.ms closes an idle connection of a TLS
// listener too (the reaper looks at the socket under the TLS connection).
func TestIdleTLSConnectionsClosed(t *testing.T) {
	dir := t.TempDir()
	ca := securitytest.NewCA(t, dir, "ca")
	srv := ca.Issue(t, dir, "broker", pkix.Name{CommonName: "localhost"}, true)
	settings := config.DefaultBroker()
	for k, v := range map[string]string{"listeners": "SSL://127.0.0.1:0", "ssl.keystore.location": srv.Keystore, "connections.max.idle.ms": "300"} {
		if err := settings.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	s, err := server.Start(server.Config{DataDir: t.TempDir(), RegistryAddr: server.RegistryOff, HTTPAddr: server.HTTPOff, Broker: settings,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	c, err := tls.Dial("tcp", s.ListenerAddr("SSL"), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle TLS connection: read = %v, want EOF (closed by the broker)", err)
	}
	if n := s.Broker().Stats().IdleClosed.Load(); n != 1 {
		t.Fatalf("IdleClosed = %d", n)
	}
}
