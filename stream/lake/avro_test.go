package lake_test

import (
	"errors"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/avro"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/lake"
)

const orderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"id","type":"long"},
 {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["view","buy"]}},
 {"name":"user","type":["null","string"],"default":null},
 {"name":"amount","type":["null",{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}],"default":null},
 {"name":"big","type":{"type":"fixed","name":"F8","size":8,"logicalType":"decimal","precision":12,"scale":3}},
 {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"tags","type":{"type":"array","items":"string"}},
 {"name":"attrs","type":{"type":"map","values":"long"}},
 {"name":"ship","type":["null",{"type":"record","name":"Ship","fields":[{"name":"city","type":"string"},{"name":"zip","type":"int"}]}],"default":null},
 {"name":"raw","type":"bytes"},
 {"name":"f","type":"float"},
 {"name":"d","type":"double"},
 {"name":"ok","type":"boolean"}
]}`

// order is the Go side of orderSchema, for encoding with twmb/avro.
type order struct {
	ID     int64            `avro:"id"`
	Kind   string           `avro:"kind"`
	User   *string          `avro:"user"`
	Amount *big.Rat         `avro:"amount"`
	Big    *big.Rat         `avro:"big"`
	At     time.Time        `avro:"at"`
	Day    time.Time        `avro:"day"`
	Tags   []string         `avro:"tags"`
	Attrs  map[string]int64 `avro:"attrs"`
	Ship   *ship            `avro:"ship"`
	Raw    []byte           `avro:"raw"`
	F      float32          `avro:"f"`
	D      float64          `avro:"d"`
	OK     bool             `avro:"ok"`
}

type ship struct {
	City string `avro:"city"`
	Zip  int32  `avro:"zip"`
}

// orderRow is how parquet-go reads a row of the derived schema back.
type orderRow struct {
	ID     int64            `parquet:"id"`
	Kind   string           `parquet:"kind"`
	User   *string          `parquet:"user,optional"`
	Amount *int32           `parquet:"amount,optional"`
	Big    []byte           `parquet:"big"`
	At     int64            `parquet:"at"`
	Day    int32            `parquet:"day"`
	Tags   []string         `parquet:"tags,list"`
	Attrs  map[string]int64 `parquet:"attrs"`
	Ship   *shipRow         `parquet:"ship,optional"`
	Raw    []byte           `parquet:"raw"`
	F      float32          `parquet:"f"`
	D      float64          `parquet:"d"`
	OK     bool             `parquet:"ok"`
}

type shipRow struct {
	City string `parquet:"city"`
	Zip  int32  `parquet:"zip"`
}

func TestFromAvroSchema(t *testing.T) {
	tab, err := lake.FromAvro(avro.MustParse(orderSchema))
	if err != nil {
		t.Fatal(err)
	}
	s := tab.Schema()
	if s.Name() != "shop.Order" {
		t.Errorf("schema name %q", s.Name())
	}
	want := map[string]string{
		"id":     "INT64 INT(64,true)",
		"kind":   "BYTE_ARRAY ENUM",
		"user":   "optional BYTE_ARRAY STRING",
		"amount": "optional INT32 DECIMAL(9,2)",
		"big":    "FIXED_LEN_BYTE_ARRAY(8) DECIMAL(12,3)",
		"at":     "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)",
		"day":    "INT32 DATE",
		"raw":    "BYTE_ARRAY",
		"f":      "FLOAT",
		"d":      "DOUBLE",
		"ok":     "BOOLEAN",
	}
	for _, f := range s.Fields() {
		w, ok := want[f.Name()]
		if !ok {
			continue
		}
		got := f.Type().String()
		if lt := f.Type().LogicalType(); lt != nil {
			got = f.Type().Kind().String() + " " + lt.String()
			if f.Type().Kind() == parquet.FixedLenByteArray {
				got = "FIXED_LEN_BYTE_ARRAY(8) " + lt.String()
			}
		} else if f.Type().Kind() == parquet.FixedLenByteArray {
			got = "FIXED_LEN_BYTE_ARRAY"
		}
		if f.Optional() {
			got = "optional " + got
		}
		if !strings.EqualFold(strings.ReplaceAll(got, " ", ""), strings.ReplaceAll(w, " ", "")) {
			t.Errorf("column %s: %s, want %s", f.Name(), got, w)
		}
		delete(want, f.Name())
	}
	if len(want) != 0 {
		t.Errorf("columns missing: %v", want)
	}
	text := s.String()
	for _, frag := range []string{"LIST", "MAP", "optional group ship", "required binary city (STRING)"} {
		if !strings.Contains(text, frag) {
			t.Errorf("schema lacks %q:\n%s", frag, text)
		}
	}
}

// TestAvroRowsThroughLake writes Avro-decoded records through the lake sink with the
// derived schema and reads them back with parquet-go: every value survives, nulls stay
// null, decimals keep their unscaled values, the partition folder comes from a map key.
func TestAvroRowsThroughLake(t *testing.T) {
	sch := avro.MustParse(orderSchema)
	tab, err := lake.FromAvro(sch)
	if err != nil {
		t.Fatal(err)
	}
	alice := "alice"
	at := time.Date(2026, 12, 6, 3, 15, 0, 0, time.UTC)
	in := []order{
		{ID: 1, Kind: "buy", User: &alice, Amount: big.NewRat(1234, 100), Big: big.NewRat(-5, 2), At: at,
			Day: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), Tags: []string{"a", "b"}, Attrs: map[string]int64{"x": 7},
			Ship: &ship{City: "Ghent", Zip: 9000}, Raw: []byte{0, 1}, F: 1.5, D: -2.25, OK: true},
		{ID: 2, Kind: "view", Big: big.NewRat(0, 1), At: at.Add(time.Hour), Day: time.Unix(0, 0).UTC(),
			Tags: []string{}, Attrs: map[string]int64{}, Raw: []byte{}},
	}
	want := []orderRow{
		{ID: 1, Kind: "buy", User: &alice, Amount: ptr(int32(1234)), Big: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf6, 0x3c},
			At: at.UnixMilli(), Day: int32(at.Unix() / 86400), Tags: []string{"a", "b"}, Attrs: map[string]int64{"x": 7},
			Ship: &shipRow{City: "Ghent", Zip: 9000}, Raw: []byte{0, 1}, F: 1.5, D: -2.25, OK: true},
		{ID: 2, Kind: "view", Big: make([]byte, 8), At: at.Add(time.Hour).UnixMilli(), Raw: []byte{}},
	}

	dir := t.TempDir()
	p := stream.NewPipeline()
	rowSrc := stream.Source[map[string]any]{Name: "orders"}
	err = lake.Write(stream.Read(p, rowSrc), lake.Config{Storage: lake.Dir(dir), Table: "orders", Schema: tab.Schema(), PartitionBy: []string{"kind"}})
	if err != nil {
		t.Fatal(err)
	}
	ex := newExec(t, p, stream.NewMemStore())
	for _, o := range in {
		b, err := sch.Encode(&o)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if _, err := sch.Decode(b, &v); err != nil {
			t.Fatal(err)
		}
		row, err := tab.Row(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Push(ex, rowSrc, 0, row, stream.TimeOf(o.At)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ex.Committed(); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		files, _ := filepath.Glob(filepath.Join(dir, "orders", "kind="+w.Kind, "dt=2026-12-06", "hr=0"+string(rune('3'+i)), "*.parquet"))
		if len(files) != 1 {
			t.Fatalf("row %d: files %v", i, files)
		}
		rows, err := parquet.ReadFile[orderRow](files[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows", files[0], len(rows))
		}
		got := rows[0]
		if len(got.Tags) == 0 {
			got.Tags = nil
		}
		if len(got.Attrs) == 0 {
			got.Attrs = nil
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestFromAvroRefuses(t *testing.T) {
	for _, c := range []struct{ schema, want string }{
		{`"string"`, "not a record"},
		{`{"type":"record","name":"R","fields":[{"name":"u","type":["int","string"]}]}`, "field u: union [int, string]"},
		{`{"type":"record","name":"R","fields":[{"name":"u","type":["null","int","string"]}]}`, "field u: union"},
		{`{"type":"record","name":"R","fields":[{"name":"n","type":"null"}]}`, "field n: a null type"},
		{`{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]}]}`, "record R is recursive"},
		{`{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":30,"scale":2}}]}`, "precision above 18"},
		{`{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":["int","string"]}}]}`, "field a[]: union"},
	} {
		s, err := avro.Parse(c.schema)
		if err != nil {
			t.Errorf("%s: parse: %v", c.schema, err)
			continue
		}
		_, err = lake.FromAvro(s)
		if !errors.Is(err, lake.ErrAvroUnsupported) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrAvroUnsupported with %q", c.schema, err, c.want)
		}
	}
}

func TestAvroRowRejectsMismatches(t *testing.T) {
	tab, err := lake.FromAvro(avro.MustParse(`{"type":"record","name":"R","fields":[{"name":"n","type":"int"},{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{
		"not a record",
		map[string]any{"d": big.NewRat(1, 1)},                      // n missing (null for a required column)
		map[string]any{"n": "x", "d": big.NewRat(1, 1)},            // wrong type
		map[string]any{"n": int64(1) << 40, "d": big.NewRat(1, 1)}, // overflows int
		map[string]any{"n": 1, "d": big.NewRat(1, 100)},            // too many decimal places
		map[string]any{"n": 1, "d": 1.5},                           // not a decimal
	} {
		if _, err := tab.Row(v); err == nil {
			t.Errorf("Row(%v) succeeded", v)
		}
	}
	if r, err := tab.Row(map[string]any{"n": 3, "d": big.NewRat(-15, 10)}); err != nil || r["n"] != int32(3) || r["d"] != int32(-15) {
		t.Errorf("Row = %v, %v", r, err)
	}
}

// FuzzFromAvro: no schema text makes FromAvro panic; a schema it accepts converts the
// values twmb/avro decodes from any bytes that decode, and parquet-go writes the row.
func FuzzFromAvro(f *testing.F) {
	f.Add(orderSchema, []byte{2, 0})
	f.Add(`{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"map","values":["null","double"]}}]}`, []byte{2, 2, 'k', 2, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0})
	f.Add(`{"type":"record","name":"R","fields":[{"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}}]}`, []byte{4})
	f.Fuzz(func(t *testing.T, schema string, data []byte) {
		s, err := avro.Parse(schema)
		if err != nil {
			return
		}
		tab, err := lake.FromAvro(s)
		if err != nil {
			if !errors.Is(err, lake.ErrAvroUnsupported) {
				t.Fatalf("error %v does not wrap ErrAvroUnsupported", err)
			}
			return
		}
		var v any
		if _, err := s.Decode(data, &v); err != nil {
			return
		}
		row, err := tab.Row(v)
		if err != nil {
			return // a decimal with more places than its scale and the like
		}
		w := parquet.NewGenericWriter[map[string]any](discard{}, tab.Schema())
		if _, err := w.Write([]map[string]any{row}); err != nil {
			t.Fatalf("write %v: %v", row, err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
