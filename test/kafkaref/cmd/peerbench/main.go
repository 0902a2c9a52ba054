// Command peerbench measures Samsa beside Apache Kafka on this machine, one broker process at
// a time, with the same franz-go client for both:
//
//   - paper: the Kafka paper's experiment (one producer, batches of 50 records of 200 bytes,
//     pipelined, acks=all; one consumer reading them back; end-to-end latency at 1,000 msg/s);
//   - omb: a workload in the style of the OpenMessaging Benchmark (16 partitions, 4 producers,
//     4 consumers in one group, 1 KiB records, acks=all): the highest sustained throughput, then
//     end-to-end latency percentiles at half of it;
//   - startup: start-up time with 1,000 partitions holding data, and recovery time after kill -9.
//
// For every broker it also reports the broker's CPU seconds (user + system, from /proc) per
// million messages and its peak RSS, which are steadier on a shared machine than rates, and the
// clients' own CPU per million messages (this process): on omb, the rate that CPU alone would
// allow on this machine's cores is printed beside the measured rate (the clients' bound). An
// unmeasured warm-up phase (-omb-warmup) precedes omb's measured phases; -rounds N repeats
// every workload N times, the brokers in turn within each round. -broker-cpus C holds each
// broker's processes to C CPUs with a cgroup CPU quota (cgroup.go), so that on a machine whose
// cores the clients share, the broker and not the clients bounds the rate.
//
// Brokers: kafka (Apache Kafka's defaults: page cache, no fsync per message), kafka-flush
// (flush.messages=1: an fsync per batch), samsa (samsa.durability=fsync, the default) and
// samsa-pagecache; samsa-cluster3 is three samsa processes as one cluster (replication factor 3,
// min.insync.replicas 2, fsync), for the paper and omb workloads, CPU and RSS summed over the
// three. kafka-tls, samsa-tls and samsa-pagecache-tls are those brokers with clients
// connecting over TLS (an SSL listener; paper and tls workloads), for TLS's cost beside the
// plaintext rows of the same run; the tls workload is internal/server's
// BenchmarkListenerProduceConsume (1 KiB records, acks=1) between processes.
// Usage:
//
//	go run ./test/kafkaref/cmd/peerbench -workloads paper,omb,startup -brokers kafka,kafka-flush,samsa,samsa-pagecache
//
// With PEERBENCH_PROFILE_DIR=DIR every samsa process writes a CPU profile of its run to DIR
// (SAMSA_CPUPROFILE, see cmd/samsa). It prints one markdown table per workload. Apache Kafka's classpath must exist (see
// test/kafkaref); the samsa binary is built from this checkout unless -samsa names one.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/bench"
	"github.com/samsa-streaming/samsa/test/kafkaref"
)

var (
	flagWorkloads = flag.String("workloads", "paper,omb,startup", "comma-separated workloads: paper, omb, startup, tls")
	flagBrokers   = flag.String("brokers", "kafka,kafka-flush,samsa,samsa-pagecache", "comma-separated brokers")
	flagSamsa     = flag.String("samsa", "", "samsa binary (default: go build ./cmd/samsa)")
	flagMessages  = flag.Int("n", 1_000_000, "messages of the paper workload")
	flagOMBTime   = flag.Duration("omb-duration", 20*time.Second, "length of each omb phase")
	flagParts     = flag.Int("startup-partitions", 1000, "partitions of the startup workload")
	flagOMBRate   = flag.Float64("omb-latency-rate", 0, "msgs/s of the omb latency phase (0: half of each broker's sustained rate)")
	flagKeep      = flag.Bool("keep", false, "keep the work directory (brokers' data and logs) and print its path")
	flagRounds    = flag.Int("rounds", 1, "run every workload this many times, the brokers in turn within each round")
	flagCPUs      = flag.Float64("broker-cpus", 0, "hold each broker process to this many CPUs (a cgroup CPU quota; 0: no limit), so that the broker, not the clients sharing the machine, bounds the rate")
	flagOMBWarmup = flag.Duration("omb-warmup", 10*time.Second, "unmeasured full-speed omb phase before the measured ones (JIT and page-cache warm-up)")
)

// broker is one running broker process under measurement.
type broker struct {
	name string
	addr string
	pid  int
	// pids are all of its processes when it is a cluster (else just pid): CPU is summed
	// over them, and so is peak RSS.
	pids []int
	stop func()
	kill func()
	// restart starts it again on the same data (startup workload).
	restart func() (*broker, error)
	// tls, when set, is how clients reach addr (an SSL listener).
	tls *tls.Config
}

// clientOpts are the franz-go options that reach the broker.
func (b *broker) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(b.addr)}
	if b.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(b.tls.Clone()))
	}
	return opts
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	work, err := os.MkdirTemp("", "peerbench-")
	if err != nil {
		log.Fatal(err)
	}
	if *flagKeep {
		log.Printf("work directory (kept): %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	samsaBin := *flagSamsa
	if samsaBin == "" {
		samsaBin = filepath.Join(work, "samsa")
		cmd := exec.Command("go", "build", "-o", samsaBin, "./cmd/samsa")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("go build ./cmd/samsa: %v", err)
		}
	}
	fmt.Printf("peerbench %s, Apache Kafka %s, %d CPUs, GOMAXPROCS %s\n\n", time.Now().UTC().Format(time.RFC3339),
		kafkaref.Version, numCPU(), os.Getenv("GOMAXPROCS"))
	for _, w := range strings.Split(*flagWorkloads, ",") {
		var rows []string
		for round := 1; round <= *flagRounds; round++ {
			for _, name := range strings.Split(*flagBrokers, ",") {
				dir := filepath.Join(work, fmt.Sprintf("%s-%s-%d", w, name, round))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					log.Fatal(err)
				}
				b, err := start(name, dir, samsaBin)
				if err != nil {
					log.Fatalf("%s: %v", name, err)
				}
				var unlimit func()
				if *flagCPUs > 0 {
					if unlimit, err = limitCPU(b, *flagCPUs); err != nil {
						b.stop()
						log.Fatalf("%s: %v", name, err)
					}
				}
				row, err := run(w, b)
				b.stop()
				if unlimit != nil {
					unlimit()
				}
				if !*flagKeep {
					// An omb run writes ~10 GB per broker: free it before the next broker starts.
					os.RemoveAll(dir)
				}
				if err != nil {
					log.Fatalf("%s on %s: %v", w, name, err)
				}
				if *flagRounds > 1 {
					row = fmt.Sprintf("| %d %s", round, row[2:])
				}
				rows = append(rows, row)
				log.Printf("%s %s done (round %d)", w, name, round)
			}
		}
		fmt.Println(header(w))
		for _, r := range rows {
			fmt.Println(r)
		}
		fmt.Println()
	}
}

func header(w string) string {
	switch w {
	case "paper":
		return "| broker | produce msg/s | produce p99 ms | consume msg/s | e2e p50 ms | e2e p99 ms | broker CPU s / 1M msgs | broker peak RSS MiB | clients CPU s / 1M msgs |\n|---|---|---|---|---|---|---|---|---|"
	case "omb":
		return "| broker | sustained msg/s (1 KiB) | MiB/s | e2e p50 ms at half | p99 ms | p99.9 ms | broker CPU s / 1M msgs | broker peak RSS MiB | clients CPU s / 1M msgs | clients' bound msg/s |\n|---|---|---|---|---|---|---|---|---|---|"
	case "tls":
		return "| broker | produce msg/s (1 KiB, acks=1) | broker CPU µs / msg | consume msg/s | broker CPU µs / msg |\n|---|---|---|---|---|"
	case "startup":
		return "| broker | partitions | start-up after clean stop s | recovery after kill -9 s |\n|---|---|---|---|"
	}
	return ""
}

func start(name, dir, samsaBin string) (*broker, error) {
	switch name {
	case "kafka", "kafka-flush":
		var opts []kafkaref.Option
		if name == "kafka-flush" {
			opts = append(opts, kafkaref.WithSetting("flush.messages", "1"))
		}
		opts = append(opts, kafkaref.WithSetting("num.partitions", "1"))
		var startKafka func() (*broker, error)
		startKafka = func() (*broker, error) {
			kb, err := kafkaref.StartIn(dir, opts...)
			if err != nil {
				return nil, err
			}
			return &broker{name: name, addr: kb.Addr, pid: kb.Pid(), stop: kb.Stop,
				kill: func() { syscall.Kill(kb.Pid(), syscall.SIGKILL) }, restart: nil}, nil
		}
		b, err := startKafka()
		if err != nil {
			return nil, err
		}
		b.restart = func() (*broker, error) { return restartKafka(name, dir, b.addr) }
		return b, nil
	case "samsa-cluster3":
		return startSamsaCluster(name, dir, samsaBin, 3)
	case "samsa", "samsa-pagecache":
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		durability := "fsync"
		if name == "samsa-pagecache" {
			durability = "pagecache"
		}
		return startSamsa(name, dir, samsaBin, "samsa.durability="+durability+"\n", []string{"--kafka-addr", addr}, addr)
	case "kafka-tls":
		return startKafkaTLS(name, dir)
	case "samsa-tls":
		return startSamsaTLS(name, dir, samsaBin, "fsync")
	case "samsa-pagecache-tls":
		return startSamsaTLS(name, dir, samsaBin, "pagecache")
	}
	return nil, fmt.Errorf("unknown broker %q", name)
}

// startSamsa starts `samsa serve` with the properties file props and the extra arguments, and
// waits until addr (a PLAINTEXT listener) answers Metadata.
func startSamsa(name, dir, samsaBin, props string, args []string, addr string) (*broker, error) {
	propsPath := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsPath, []byte(props), 0o644); err != nil {
		return nil, err
	}
	var start func() (*broker, error)
	start = func() (*broker, error) {
		cmd := exec.Command(samsaBin, append([]string{"serve", "--data-dir", filepath.Join(dir, "data"),
			"--registry-addr", "off", "--http-addr", "off", "--config", propsPath, "--log-level", logLevel()}, args...)...)
		if pd := os.Getenv("PEERBENCH_PROFILE_DIR"); pd != "" {
			// It writes a CPU profile there (see cmd/samsa), complete once it stopped.
			cmd.Env = append(os.Environ(), "SAMSA_CPUPROFILE="+filepath.Join(pd, name+".pprof"))
		}
		b, err := spawn(name, addr, cmd, filepath.Join(dir, "samsa.log"), 20*time.Second)
		if err != nil {
			return nil, err
		}
		b.restart = start
		if err := awaitMetadata(addr, 60*time.Second, 0); err != nil {
			b.stop()
			out, _ := os.ReadFile(filepath.Join(dir, "samsa.log"))
			return nil, fmt.Errorf("%w\n%s", err, out)
		}
		return b, nil
	}
	return start()
}

// spawn starts cmd with its output appended to logPath, as the broker name serving at addr;
// its stop sends SIGTERM and kills it after stopWait.
func spawn(name, addr string, cmd *exec.Cmd, logPath string, stopWait time.Duration) (*broker, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	return &broker{name: name, addr: addr, pid: cmd.Process.Pid,
		stop: func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(stopWait):
				cmd.Process.Kill()
				<-done
			}
		},
		kill: func() { cmd.Process.Kill(); <-done },
	}, nil
}

// restartKafka starts Kafka again on its existing data directory and address.
func restartKafka(name, dir, addr string) (*broker, error) {
	cp, err := kafkaref.Classpath()
	if err != nil {
		return nil, err
	}
	props := filepath.Join(dir, "server.properties")
	cmd := exec.Command("java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-cp", cp, "kafka.Kafka", props)
	b, err := spawn(name, addr, cmd, filepath.Join(dir, "kafka.log"), 30*time.Second)
	if err != nil {
		return nil, err
	}
	b.restart = func() (*broker, error) { return restartKafka(name, dir, addr) }
	return b, nil
}

func run(workload string, b *broker) (string, error) {
	if b.tls != nil && workload != "paper" && workload != "tls" {
		return "", fmt.Errorf("the %s workload does not support TLS brokers; run them with -workloads paper,tls", workload)
	}
	switch workload {
	case "paper":
		return paper(b)
	case "omb":
		return omb(b)
	case "startup":
		return startup(b)
	case "tls":
		return tlsWorkload(b) // tls.go
	}
	return "", fmt.Errorf("unknown workload %q", workload)
}

func paper(b *broker) (string, error) {
	ctx := context.Background()
	base := b.clientOpts()
	topic := "paper"
	cpu0, self0 := b.cpuSeconds(), clientCPUSeconds()
	prod, err := bench.Produce(ctx, bench.Config{ClientOpts: base, Messages: *flagMessages, Topic: topic, BatchRecords: 50})
	if err != nil {
		return "", err
	}
	cons, err := bench.Consume(ctx, bench.Config{ClientOpts: base, Messages: *flagMessages, Topic: topic})
	if err != nil {
		return "", err
	}
	cpu1, self1 := b.cpuSeconds(), clientCPUSeconds()
	e2e, err := bench.EndToEnd(ctx, bench.Config{ClientOpts: base, Rate: 1000, Duration: 10 * time.Second, Topic: "paper-e2e"})
	if err != nil {
		return "", err
	}
	moved := float64(prod.Messages + cons.Messages)
	return fmt.Sprintf("| %s | %.0f | %.2f | %.0f | %.2f | %.2f | %.2f | %.0f | %.2f |", b.name,
		prod.MsgsPerSec(), ms(prod.Latency.P99), cons.MsgsPerSec(), ms(e2e.Latency.P50), ms(e2e.Latency.P99),
		(cpu1-cpu0)/moved*1e6, b.peakRSSMiB(), (self1-self0)/moved*1e6), nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// omb runs 4 producers and 4 consumers (one group) on a 16-partition topic of 1 KiB records:
// first as fast as the producers go, measuring the rate the consumers sustain, then at half of
// it, measuring send→receive latency.
func omb(b *broker) (string, error) {
	ctx := context.Background()
	adm, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		return "", err
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 16, -1, nil, "omb"); err != nil {
		return "", err
	}
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 16, -1, nil, "omb-latency"); err != nil {
		return "", err
	}
	if *flagOMBWarmup > 0 {
		if _, err := kadm.NewClient(adm).CreateTopic(ctx, 16, -1, nil, "omb-warmup"); err != nil {
			return "", err
		}
		if _, _, err := ombPhase(ctx, b.addr, "omb-warmup", -1, *flagOMBWarmup, nil); err != nil {
			return "", fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu0, self0 := b.cpuSeconds(), clientCPUSeconds()
	maxRate, moved, err := ombPhase(ctx, b.addr, "omb", -1, *flagOMBTime, nil)
	if err != nil {
		return "", err
	}
	cpu1, self1 := b.cpuSeconds(), clientCPUSeconds()
	// The clients (this process) share the machine's cores with the broker: with a broker
	// that cost nothing, they could still not exceed numCPU / (their CPU per message
	// produced and consumed), a message being produced once and consumed once.
	clientPerMoved := (self1 - self0) / float64(moved)
	bound := float64(numCPU()) / (2 * clientPerMoved)
	latRate := maxRate / 2
	if *flagOMBRate > 0 {
		latRate = *flagOMBRate
	}
	rec := bench.NewRecorder(int(latRate*flagOMBTime.Seconds()) + 1024)
	if _, _, err := ombPhase(ctx, b.addr, "omb-latency", latRate, *flagOMBTime, rec); err != nil {
		return "", err
	}
	p := rec.Percentiles()
	return fmt.Sprintf("| %s | %.0f | %.1f | %.2f | %.2f | %.2f | %.2f | %.0f | %.2f | %.0f |", b.name, maxRate, maxRate*1024/(1<<20),
		ms(p.P50), ms(p.P99), ms(p.P999), (cpu1-cpu0)/float64(moved)*1e6, b.peakRSSMiB(), clientPerMoved*1e6, bound), nil
}

// ombPhase produces to topic from 4 clients at rate msgs/s in total (< 0: unthrottled) for d,
// while 4 consumers in one group read; it returns the consumed rate over the phase and the
// messages produced plus consumed. With rec, each received record's send→receive latency is
// recorded.
func ombPhase(ctx context.Context, addr, topic string, rate float64, d time.Duration, rec *bench.Recorder) (float64, int64, error) {
	const producers, consumers, size = 4, 4, 1024
	popts, err := bench.ProducerOpts("all", "none", time.Millisecond, 0, size)
	if err != nil {
		return 0, 0, err
	}
	var received, produced atomic.Int64
	var firstErr atomic.Value
	group := "omb-" + topic + strconv.FormatInt(time.Now().UnixNano(), 36)
	cctx, cancelConsumers := context.WithCancel(ctx)
	defer cancelConsumers()
	var cwg sync.WaitGroup
	var recMu sync.Mutex
	for i := 0; i < consumers; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			return 0, 0, err
		}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			defer cl.Close()
			for cctx.Err() == nil {
				fs := cl.PollFetches(cctx)
				now := time.Now().UnixNano()
				fs.EachRecord(func(r *kgo.Record) {
					received.Add(1)
					if rec != nil {
						if sent, _, err := bench.ReadStamp(r.Value); err == nil {
							recMu.Lock()
							rec.Record(time.Duration(now - sent))
							recMu.Unlock()
						}
					}
				})
			}
		}()
	}
	// Let the group settle before measuring: produce nothing until every consumer has an
	// assignment (the group is Stable with four members).
	if err := awaitGroupStable(ctx, addr, group, consumers, 60*time.Second); err != nil {
		cancelConsumers()
		cwg.Wait()
		return 0, 0, err
	}
	pctx, cancelProducers := context.WithTimeout(ctx, d)
	var pwg sync.WaitGroup
	start := time.Now()
	r0 := received.Load()
	for i := 0; i < producers; i++ {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic)}, popts...)...)
		if err != nil {
			cancelProducers()
			return 0, 0, err
		}
		pwg.Add(1)
		go func(seq uint64) {
			defer pwg.Done()
			defer cl.Close()
			var interval time.Duration
			if rate > 0 {
				interval = time.Duration(float64(time.Second) * producers / rate)
			}
			next := time.Now()
			for pctx.Err() == nil {
				if interval > 0 {
					if w := time.Until(next); w > 0 {
						time.Sleep(w)
					}
					next = next.Add(interval)
				}
				v := make([]byte, size)
				bench.PutStamp(v, time.Now().UnixNano(), seq)
				seq++
				cl.Produce(pctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
					if err == nil {
						produced.Add(1)
					} else if pctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
				})
			}
			cl.Flush(context.Background())
		}(uint64(i) << 48)
	}
	pwg.Wait()
	cancelProducers()
	// Drain: wait until the consumers have read what was produced (or 30 s).
	deadline := time.Now().Add(30 * time.Second)
	for received.Load()-r0 < produced.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancelConsumers()
	cwg.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, 0, e.(error)
	}
	got := received.Load() - r0
	return float64(got) / elapsed.Seconds(), got + produced.Load(), nil
}

func awaitGroupStable(ctx context.Context, addr, group string, members int, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		gs, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			if g, ok := gs[group]; ok && g.State == "Stable" && len(g.Members) == members {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("group %s not stable with %d members after %v", group, members, timeout)
}

// startup fills -startup-partitions partitions (100 topics) with a few records each, stops
// the broker cleanly and times a restart until Metadata shows every partition with a leader,
// then kills it with SIGKILL and times the recovery the same way.
func startup(b *broker) (string, error) {
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		return "", err
	}
	adm := kadm.NewClient(cl)
	const topics = 100
	per := int32(*flagParts / topics)
	var names []string
	for i := 0; i < topics; i++ {
		names = append(names, fmt.Sprintf("startup-%03d", i))
	}
	if _, err := adm.CreateTopics(ctx, per, 1, nil, names...); err != nil {
		cl.Close()
		return "", err
	}
	var recs []*kgo.Record
	for _, n := range names {
		for p := int32(0); p < per; p++ {
			for k := 0; k < 3; k++ {
				recs = append(recs, &kgo.Record{Topic: n, Partition: p, Value: make([]byte, 200)})
			}
		}
	}
	cl.Close()
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return "", err
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		cl.Close()
		return "", err
	}
	cl.Close()
	total := int(per) * topics
	b.stop()
	t0 := time.Now()
	b2, err := b.restart()
	if err != nil {
		return "", err
	}
	if err := awaitMetadata(b2.addr, 5*time.Minute, total); err != nil {
		b2.stop()
		return "", err
	}
	clean := time.Since(t0)
	b2.kill()
	t1 := time.Now()
	b3, err := b2.restart()
	if err != nil {
		return "", err
	}
	if err := awaitMetadata(b3.addr, 5*time.Minute, total); err != nil {
		b3.stop()
		return "", err
	}
	crash := time.Since(t1)
	b.stop = b3.stop
	return fmt.Sprintf("| %s | %d | %.2f | %.2f |", b.name, total, clean.Seconds(), crash.Seconds()), nil
}

// awaitMetadata waits until the broker answers Metadata with at least minPartitions partitions
// that have a leader (0: any answer with a broker).
func awaitMetadata(addr string, timeout time.Duration, minPartitions int) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			md, err := kadm.NewClient(cl).Metadata(ctx)
			cancel()
			cl.Close()
			if err == nil && len(md.Brokers) > 0 {
				n := 0
				for _, t := range md.Topics {
					for _, p := range t.Partitions {
						if p.Leader >= 0 && p.Err == nil {
							n++
						}
					}
				}
				if n >= minPartitions {
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: no metadata with %d partitions within %v", addr, minPartitions, timeout)
}

// processes are the broker's process ids.
func (b *broker) processes() []int {
	if len(b.pids) > 0 {
		return b.pids
	}
	return []int{b.pid}
}

// cpuSeconds is the broker's CPU time so far, summed over its processes.
func (b *broker) cpuSeconds() float64 {
	var s float64
	for _, pid := range b.processes() {
		s += cpuSeconds(pid)
	}
	return s
}

// peakRSSMiB is the broker's peak resident set, summed over its processes.
func (b *broker) peakRSSMiB() float64 {
	var s float64
	for _, pid := range b.processes() {
		s += peakRSSMiB(pid)
	}
	return s
}

// clientCPUSeconds is this process's CPU time so far: the benchmark's clients (the brokers
// are other processes).
func clientCPUSeconds() float64 { return cpuSeconds(os.Getpid()) }

// cpuSeconds is a process's user + system CPU time so far, from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command (which may contain spaces) start after the last ')'.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// peakRSSMiB is a process's peak resident set (VmHWM).
func peakRSSMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

// logLevel is the samsa processes' log level: info with -keep (their logs are kept to be
// read), else warn.
func logLevel() string {
	if *flagKeep {
		return "info"
	}
	return "warn"
}
