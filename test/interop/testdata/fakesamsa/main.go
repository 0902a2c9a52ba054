// Command fakesamsa is a stand-in for `samsa serve` built on franz-go's
// kfake, used only to check the process tests themselves (crash, restart,
// retention) against a reference broker:
//
//	go build -o /tmp/fakesamsa ./test/interop/testdata/fakesamsa
//	SAMSA_BIN=/tmp/fakesamsa go test ./test/interop -run 'TestProcess'
//
// It accepts the flags the tests pass to `samsa serve` (--data-dir,
// --kafka-addr, --http-addr, --registry-addr, --config), persists to the
// data dir with fsync per batch, exits 0 on SIGTERM after closing the
// cluster. It lives under testdata so `go build ./...` and `go vet ./...`
// skip it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: fakesamsa serve --data-dir DIR --kafka-addr HOST:PORT [--http-addr A] [--registry-addr A] [--config FILE]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dataDir := fs.String("data-dir", "", "data directory")
	kafkaAddr := fs.String("kafka-addr", "127.0.0.1:9092", "Kafka listener")
	fs.String("http-addr", "", "ignored")
	fs.String("registry-addr", "", "ignored")
	config := fs.String("config", "", "Java properties file of broker configs")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	_, portStr, err := net.SplitHostPort(*kafkaAddr)
	if err != nil {
		fail(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		fail(err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DataDir(*dataDir),
		kfake.SyncWrites(),
		kfake.AllowAutoTopicCreation(),
	}
	if *config != "" {
		props, err := readProps(*config)
		if err != nil {
			fail(err)
		}
		// kfake runs retention and compaction on one ticker, set by
		// log.cleaner.backoff.ms; take the smaller of the two intervals.
		interval := ""
		for _, k := range []string{"log.retention.check.interval.ms", "log.cleaner.backoff.ms"} {
			if v, ok := props[k]; ok {
				if interval == "" || atoi(v) < atoi(interval) {
					interval = v
				}
			}
		}
		if interval != "" {
			opts = append(opts, kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": interval}))
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "fakesamsa listening on %v, data in %s\n", c.ListenAddrs(), *dataDir)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	c.Close()
	fmt.Fprintln(os.Stderr, "fakesamsa stopped")
}

func readProps(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, sc.Err()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fakesamsa:", err)
	os.Exit(1)
}
