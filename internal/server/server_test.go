package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/config"
)

// testSettings are Kafka's defaults but one __consumer_offsets partition (a fresh node
// creates that topic; 50 partitions only slow the test down).
func testSettings(t *testing.T) config.Broker {
	t.Helper()
	b := config.DefaultBroker()
	if err := b.Set("offsets.topic.num.partitions", "1"); err != nil {
		t.Fatal(err)
	}
	return b
}

func startServer(t *testing.T, registryAddr string) *Server {
	t.Helper()
	s, err := Start(Config{
		DataDir:      t.TempDir(),
		KafkaAddr:    "127.0.0.1:0",
		HTTPAddr:     "127.0.0.1:0",
		RegistryAddr: registryAddr,
		Broker:       testSettings(t),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRegistryServed: the node serves the schema registry on RegistryAddr, and stops it on
// Close before the broker.
func TestRegistryServed(t *testing.T) {
	s := startServer(t, "127.0.0.1:0")
	if s.RegistryAddr() == "" || s.Registry() == nil {
		t.Fatal("no registry")
	}
	resp, err := http.Get("http://" + s.RegistryAddr() + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var subjects []string
	if resp.StatusCode != 200 || json.Unmarshal(body, &subjects) != nil || len(subjects) != 0 {
		t.Fatalf("GET /subjects: %d %s", resp.StatusCode, body)
	}
	addr := s.RegistryAddr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/subjects"); err == nil {
		t.Fatal("registry still serving after Close")
	}
}

// TestRegistryOff: RegistryOff runs no registry; a topic with schema validation on then
// refuses records, saying why.
func TestRegistryOff(t *testing.T) {
	s := startServer(t, RegistryOff)
	if s.RegistryAddr() != "" || s.Registry() != nil {
		t.Fatalf("registry running at %q with RegistryOff", s.RegistryAddr())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddr()), kgo.RecordRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"confluent.value.schema.validation": kadm.StringPtr("true")}, "v")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "v", Value: []byte{0, 0, 0, 0, 1, 'x'}}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("produce to a validated topic without a registry: %v, want INVALID_RECORD", err)
	}
}

// TestRegistryWithUnreachableAdvertisedAddress: the registry reaches its own broker through
// the listener even when advertised.listeners names a host the node cannot resolve.
func TestRegistryWithUnreachableAdvertisedAddress(t *testing.T) {
	settings := testSettings(t)
	if err := settings.Set("advertised.listeners", "PLAINTEXT://kafka.invalid:9092"); err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{
		DataDir:      t.TempDir(),
		KafkaAddr:    "127.0.0.1:0",
		HTTPAddr:     "127.0.0.1:0",
		RegistryAddr: "127.0.0.1:0",
		Broker:       settings,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Post("http://"+s.RegistryAddr()+"/subjects/s/versions", "application/json", strings.NewReader(`{"schema":"\"string\""}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":1`) {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
}
