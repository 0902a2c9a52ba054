package interop

// @kafkajs/confluent-schema-registry (npm) against Samsa's schema registry, driven through
// test/node/schema-registry-interop.js. Needs node and `npm ci` in test/node; missing either
// skips, except under CI where it fails.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/samsatest"
)

type nodeSRResult struct {
	AvroV1ID      int            `json:"avroV1Id"`
	AvroEncoded   string         `json:"avroEncoded"`
	AvroDecoded   map[string]any `json:"avroDecoded"`
	AvroV2ID      int            `json:"avroV2Id"`
	LatestID      int            `json:"latestId"`
	V1IDBySchema  int            `json:"v1IdBySchema"`
	V1IDByVersion int            `json:"v1IdByVersion"`
	Incompatible  *struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"incompatible"`
	FreshDecoded  map[string]any `json:"freshDecoded"`
	DecodedWithV2 map[string]any `json:"decodedWithV2"`
	JSONID        int            `json:"jsonId"`
	JSONEncoded   string         `json:"jsonEncoded"`
	JSONDecoded   map[string]any `json:"jsonDecoded"`
	ProtoID       int            `json:"protoId"`
	ProtoDecoded  map[string]any `json:"protoDecoded"`
	RefID         int            `json:"refId"`
	RefDecoded    map[string]any `json:"refDecoded"`
}

// TestKafkaJSSchemaRegistry runs the @kafkajs/confluent-schema-registry scenario and checks what
// it saw against the registry (through franz-go's sr client) and the broker's schema
// validation: the bytes that client encodes are accepted on a validated topic.
func TestKafkaJSSchemaRegistry(t *testing.T) {
	t.Parallel()
	node := requireTool(t, "node")
	dir, err := filepath.Abs(filepath.Join("..", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@kafkajs", "confluent-schema-registry", "package.json")); err != nil {
		if inCI() {
			t.Fatalf("@kafkajs/confluent-schema-registry not installed in %s; .ci/run must run npm ci there: %v", dir, err)
		}
		t.Skipf("@kafkajs/confluent-schema-registry not installed (run npm ci in %s)", dir)
	}
	b := samsatest.Start(t)
	const prefix = "njs"
	arg, _ := json.Marshal(map[string]string{"url": b.RegistryURL(), "prefix": prefix})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "schema-registry-interop.js"), string(arg))
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("schema-registry-interop.js: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var res nodeSRResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}

	same := func(what string, got, want any) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Errorf("%s = %s, want %s", what, g, w)
		}
	}
	same("avro decode", res.AvroDecoded, map[string]any{"id": 42, "name": "ada"})
	same("avro decode by a fresh client", res.FreshDecoded, map[string]any{"id": 42, "name": "ada"})
	same("v1 data read with v2", res.DecodedWithV2, map[string]any{"id": 42, "name": "ada", "email": ""})
	same("JSON decode", res.JSONDecoded, map[string]any{"id": "o-1", "qty": 3})
	same("Protobuf decode", res.ProtoDecoded, map[string]any{"id": "p-1", "amount": 2.5})
	same("referencing schema decode", res.RefDecoded, map[string]any{"home": map[string]any{"city": "Prague"}})
	if res.AvroV2ID == res.AvroV1ID || res.LatestID != res.AvroV2ID || res.V1IDBySchema != res.AvroV1ID || res.V1IDByVersion != res.AvroV1ID {
		t.Errorf("ids: v1 %d v2 %d latest %d v1 by schema %d v1 by version %d", res.AvroV1ID, res.AvroV2ID, res.LatestID, res.V1IDBySchema, res.V1IDByVersion)
	}
	if res.Incompatible == nil || !strings.Contains(res.Incompatible.Message, "incompatible") {
		t.Errorf("registering an incompatible schema: %+v, want an incompatibility error", res.Incompatible)
	}
	// The wire format: magic byte 0, then the id big-endian.
	if want := fmt.Sprintf("00%08x", res.AvroV1ID); !strings.HasPrefix(res.AvroEncoded, want) {
		t.Errorf("encoded %s does not start with %s", res.AvroEncoded, want)
	}

	// What the npm client registered, as franz-go's client reads it.
	cl, err := sr.NewClient(sr.URLs(b.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	for subject, ids := range map[string][]int{
		prefix + "-users-value":     {res.AvroV1ID, res.AvroV2ID},
		prefix + "-orders-value":    {res.JSONID},
		prefix + "-payments-value":  {res.ProtoID},
		prefix + "-customers-value": {res.RefID},
	} {
		schemas, err := cl.Schemas(ctx, subject)
		if err != nil {
			t.Fatalf("schemas of %s: %v", subject, err)
		}
		var got []int
		for _, s := range schemas {
			got = append(got, s.ID)
		}
		if !reflect.DeepEqual(got, ids) {
			t.Errorf("%s: ids %v, the npm client registered %v", subject, got, ids)
		}
		// The npm client sets BACKWARD on a subject it registers first.
		if c := cl.Compatibility(ctx, subject); c[0].Err != nil || c[0].Level != sr.CompatBackward {
			t.Errorf("%s: subject config %+v", subject, c[0])
		}
	}
	if s, err := cl.SchemaByID(ctx, res.ProtoID); err != nil || s.Type != sr.TypeProtobuf {
		t.Errorf("Protobuf schema by id: %+v, %v", s, err)
	}

	// The broker's schema validation accepts what the npm client encoded for the topic's
	// subject, and refuses an id registered for another subject.
	kcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	topic := prefix + "-users"
	createTopic(t, b.Addr(), topic, 1, map[string]*string{"confluent.value.schema.validation": kadm.StringPtr("true")})
	avro, _ := hex.DecodeString(res.AvroEncoded)
	if err := kcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: avro}).FirstErr(); err != nil {
		t.Errorf("produce of the npm client's Avro encoding: %v", err)
	}
	jsonEnc, _ := hex.DecodeString(res.JSONEncoded)
	if err := kcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: jsonEnc}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Errorf("produce of a value with another subject's id: %v, want INVALID_RECORD", err)
	}
}
