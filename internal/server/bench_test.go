package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security"
	"github.com/samsa-streaming/samsa/internal/security/securitytest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkListenerProduceConsume compares a PLAINTEXT and an SSL listener of one node in
// one run: a franz-go producer (1 KiB records, 5 ms linger, acks=1, uncompressed) and a
// consumer reading the records back. samsa.durability=pagecache keeps the disk out of the
// comparison. It reports MB/s and the process's CPU time per record (broker and client run
// in this process).
func BenchmarkListenerProduceConsume(b *testing.B) {
	dir := b.TempDir()
	ca := securitytest.NewCA(b, dir, "ca")
	srv := ca.Issue(b, dir, "broker", pkix.Name{CommonName: "localhost"}, true)
	settings := testSettingsB(b)
	for k, v := range map[string]string{
		"listeners":             "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"ssl.keystore.location": srv.Keystore,
		"samsa.durability":      "pagecache",
	} {
		if err := settings.Set(k, v); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Start(Config{DataDir: b.TempDir(), RegistryAddr: RegistryOff, HTTPAddr: HTTPOff, Broker: settings, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	modes := []struct {
		name string
		opts []kgo.Opt
	}{
		{"plaintext", []kgo.Opt{kgo.SeedBrokers(s.ListenerAddr("PLAINTEXT"))}},
		{"tls", []kgo.Opt{kgo.SeedBrokers(s.ListenerAddr("SSL")), kgo.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost"})}},
	}
	val := make([]byte, 1024)
	for _, op := range []string{"produce", "consume"} {
		for _, m := range modes {
			b.Run(op+"/"+m.name, func(b *testing.B) {
				ctx := context.Background()
				topic := "bench-" + m.name + "-" + time.Now().Format("150405.000000")
				cl, err := kgo.NewClient(append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
					kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(5 * time.Millisecond),
					kgo.MaxBufferedRecords(100000)}, m.opts...)...)
				if err != nil {
					b.Fatal(err)
				}
				defer cl.Close()
				if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
					b.Fatal(err)
				}
				produce := func() {
					for i := 0; i < b.N; i++ {
						cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
							if err != nil {
								b.Error(err)
							}
						})
					}
					if err := cl.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
				if op == "consume" {
					produce()
				}
				b.SetBytes(int64(len(val)))
				b.ResetTimer()
				cpu0, start := cpuTime(), time.Now()
				if op == "produce" {
					produce()
				} else {
					cons, err := kgo.NewClient(append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
						kgo.FetchMaxBytes(16 << 20)}, m.opts...)...)
					if err != nil {
						b.Fatal(err)
					}
					for n := 0; n < b.N; {
						fs := cons.PollFetches(ctx)
						if err := fs.Err0(); err != nil {
							b.Fatal(err)
						}
						n += fs.NumRecords()
					}
					cons.Close()
				}
				el, cpu := time.Since(start), cpuTime()-cpu0
				b.StopTimer()
				b.ReportMetric(float64(b.N)*float64(len(val))/el.Seconds()/1e6, "MB/s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/rec")
			})
		}
	}
}

// BenchmarkTLSCipherPerRecord is what TLS adds at the least to a record that crosses a TLS
// connection once: AES-128-GCM (the suite Go negotiates on a CPU with AES-NI) sealing it on
// one side and opening it on the other, nothing else (no copy, no system call), in 16 KiB TLS
// records as crypto/tls writes them. Beside BenchmarkListenerProduceConsume's plaintext CPU
// per record it bounds the TLS/plaintext ratio any user-space TLS could reach on this
// machine when both ends share its cores: plaintext / (plaintext + this).
func BenchmarkTLSCipherPerRecord(b *testing.B) {
	const rec, tlsRecord = 1024, 16 << 10
	key := make([]byte, 16)
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	plain := make([]byte, tlsRecord)
	sealed := make([]byte, 0, tlsRecord+aead.Overhead())
	opened := make([]byte, 0, tlsRecord)
	b.SetBytes(rec)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i += tlsRecord / rec {
		sealed = aead.Seal(sealed[:0], nonce, plain, nil)
		if opened, err = aead.Open(opened[:0], nonce, sealed, nil); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/rec")
}

func testSettingsB(b *testing.B) config.Broker {
	s := config.DefaultBroker()
	if err := s.Set("offsets.topic.num.partitions", "1"); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAuthorizerProduce compares, in one run, a node without an authorizer and a node
// with the ACL authorizer and 1,000 ACLs (the producer's WRITE among them): a franz-go
// producer of 200 B records (batches of up to 50, linger 5 ms, acks=1), pagecache durability.
func BenchmarkAuthorizerProduce(b *testing.B) {
	for _, mode := range []string{"no-authorizer", "acl-1000"} {
		b.Run(mode, func(b *testing.B) {
			settings := testSettingsB(b)
			for k, v := range map[string]string{"samsa.durability": "pagecache", "auto.create.topics.enable": "false"} {
				if err := settings.Set(k, v); err != nil {
					b.Fatal(err)
				}
			}
			if mode != "no-authorizer" {
				if err := settings.Set("samsa.authorizer", "acl"); err != nil {
					b.Fatal(err)
				}
			}
			s, err := Start(Config{DataDir: b.TempDir(), KafkaAddr: "127.0.0.1:0", RegistryAddr: RegistryOff, HTTPAddr: HTTPOff, Broker: settings,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if mode != "no-authorizer" {
				acls := benchACLs(999)
				acls = append(acls, security.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "bench", PatternType: kmsg.ACLResourcePatternTypeLiteral,
					Principal: "User:ANONYMOUS", Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow},
					security.ACL{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: security.ClusterResource, PatternType: kmsg.ACLResourcePatternTypeLiteral,
						Principal: "User:ANONYMOUS", Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow})
				if err := s.Security().CreateACLs(ctx, acls); err != nil {
					b.Fatal(err)
				}
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr()), kgo.DefaultProduceTopic("bench"), kgo.ProducerBatchCompression(kgo.NoCompression()),
				kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(5*time.Millisecond),
				kgo.ProducerBatchMaxBytes(61+50*209+104), kgo.MaxBufferedRecords(100000))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "bench"); err != nil {
				b.Fatal(err)
			}
			val := make([]byte, 200)
			b.SetBytes(int64(len(val)))
			b.ResetTimer()
			cpu0, start := cpuTime(), time.Now()
			for i := 0; i < b.N; i++ {
				cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			el, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/rec")
		})
	}
}

// benchACLs are n ACLs of other principals: literal and prefixed topics, groups, host DENYs.
func benchACLs(n int) []security.ACL {
	var out []security.ACL
	for i := 0; i < n; i++ {
		a := security.ACL{ResourceType: kmsg.ACLResourceTypeTopic, PatternType: kmsg.ACLResourcePatternTypeLiteral,
			Principal: fmt.Sprintf("User:u%d", i%50), Host: "*", Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow}
		switch i % 4 {
		case 0:
			a.ResourceName = fmt.Sprintf("topic-%d", i)
		case 1:
			a.ResourceName, a.PatternType, a.Operation = fmt.Sprintf("team%d-", i), kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLOperationRead
		case 2:
			a.ResourceType, a.ResourceName, a.Operation = kmsg.ACLResourceTypeGroup, fmt.Sprintf("group-%d", i), kmsg.ACLOperationRead
		case 3:
			a.ResourceName, a.Principal, a.Host, a.Permission = "bench", "User:*", fmt.Sprintf("10.0.%d.%d", i/256, i%256), kmsg.ACLPermissionTypeDeny
		}
		out = append(out, a)
	}
	return out
}
