package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/samsa-streaming/samsa/internal/bench"
	"github.com/samsa-streaming/samsa/internal/security/securitytest"
	"github.com/samsa-streaming/samsa/test/kafkaref"
)

// The TLS brokers (kafka-tls, samsa-tls, samsa-pagecache-tls) are kafka, samsa and samsa-pagecache with their defaults plus an SSL
// listener (TLS, a P-256 certificate from a throw-away CA, PEM key store as Kafka reads it);
// the workload's clients use that listener, so each pair (kafka/kafka-tls and so on)
// in one run gives that broker's TLS cost (paper and tls workloads).

// tlsFiles makes the CA and the broker's key store in dir, and the client configuration
// that trusts them.
func tlsFiles(dir string) (*securitytest.Pair, *tls.Config, error) {
	ca, err := securitytest.MakeCA(dir, "peerbench")
	if err != nil {
		return nil, nil, err
	}
	pair, err := ca.Make(dir, "broker", pkix.Name{CommonName: "localhost"}, true)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM) {
		return nil, nil, errors.New("peerbench: the CA certificate does not parse")
	}
	return pair, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}, nil
}

// startKafkaTLS starts Apache Kafka (its defaults) with an SSL listener beside PLAINTEXT.
func startKafkaTLS(name, dir string) (*broker, error) {
	pair, conf, err := tlsFiles(dir)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ssl := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	withSSL := func(p map[string]string) {
		p["listeners"] += ",SSL://" + ssl
		p["advertised.listeners"] += ",SSL://" + ssl
		p["listener.security.protocol.map"] += ",SSL:SSL"
		p["ssl.keystore.type"] = "PEM"
		p["ssl.keystore.location"] = pair.Keystore
		p["num.partitions"] = "1"
	}
	kb, err := kafkaref.StartIn(dir, withSSL)
	if err != nil {
		return nil, err
	}
	return &broker{name: name, addr: ssl, pid: kb.Pid(), stop: kb.Stop, tls: conf}, nil
}

// startSamsaTLS starts samsa serve with PLAINTEXT and SSL listeners and the given
// samsa.durability (samsa-tls: fsync, the default; samsa-pagecache-tls: pagecache).
func startSamsaTLS(name, dir, samsaBin, durability string) (*broker, error) {
	pair, conf, err := tlsFiles(dir)
	if err != nil {
		return nil, err
	}
	var addrs [2]string
	for i := range addrs {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	props := "listeners=PLAINTEXT://" + addrs[0] + ",SSL://" + addrs[1] + "\n" +
		"ssl.keystore.location=" + pair.Keystore + "\n" + "samsa.durability=" + durability + "\n"
	b, err := startSamsa(name, dir, samsaBin, props, nil, addrs[0])
	if err != nil {
		return nil, err
	}
	b.addr, b.tls = addrs[1], conf
	return b, nil
}

// tlsWorkload is BenchmarkListenerProduceConsume's experiment (internal/server) against any
// broker: one producer sends n records of 1 KiB (acks=1, linger 5 ms, no compression), one
// consumer reads them back; each phase's rate and broker CPU per message.
func tlsWorkload(b *broker) (string, error) {
	ctx := context.Background()
	cfg := bench.Config{ClientOpts: b.clientOpts(), Messages: *flagMessages, Size: 1024, Acks: "1",
		Linger: 5 * time.Millisecond, Topic: "tls-bench"}
	cpu0 := b.cpuSeconds()
	prod, err := bench.Produce(ctx, cfg)
	if err != nil {
		return "", err
	}
	cpu1 := b.cpuSeconds()
	cons, err := bench.Consume(ctx, cfg)
	if err != nil {
		return "", err
	}
	cpu2 := b.cpuSeconds()
	return fmt.Sprintf("| %s | %.0f | %.2f | %.0f | %.2f |", b.name,
		prod.MsgsPerSec(), (cpu1-cpu0)/float64(prod.Messages)*1e6,
		cons.MsgsPerSec(), (cpu2-cpu1)/float64(cons.Messages)*1e6), nil
}
