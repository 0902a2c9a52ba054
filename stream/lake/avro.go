package lake

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/avro"
)

// ErrAvroUnsupported is wrapped by the errors of FromAvro for an Avro schema (or part of
// one) that has no faithful Parquet type.
var ErrAvroUnsupported = errors.New("lake: Avro type has no Parquet mapping")

// AvroTable is a Parquet schema derived from an Avro record schema (for example the one a
// schema registry holds for a topic), and the conversion of values decoded with that
// schema (twmb/avro's generic decoding into an any: maps for records, []any for arrays,
// time.Time for timestamps and dates, *big.Rat for decimals) into rows of that schema.
//
// Mapping:
//
//	Avro                                   Parquet
//	record                                 group (required fields; nested records nest)
//	["null", T] or [T, "null"]             optional T
//	boolean, int, long, float, double      BOOLEAN, INT32, INT64, FLOAT, DOUBLE
//	string, enum, uuid (string)            BYTE_ARRAY STRING, ENUM, STRING
//	bytes, fixed(n)                        BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY(n)
//	int date                               INT32 DATE
//	int time-millis, long time-micros      TIME(MILLIS), TIME(MICROS)
//	long timestamp-millis|micros|nanos     TIMESTAMP(unit, UTC)
//	long local-timestamp-*                 TIMESTAMP(unit, not UTC)
//	bytes decimal(p ≤ 9, s), (p ≤ 18, s)   INT32 DECIMAL(p, s), INT64 DECIMAL(p, s)
//	fixed(n) decimal(p, s)                 FIXED_LEN_BYTE_ARRAY(n) DECIMAL(p, s)
//	array of T                             LIST of T (3-level)
//	map of T                               MAP of STRING to T
//
// Refused, with an error wrapping ErrAvroUnsupported that names the field: unions of two or
// more non-null types (Parquet has no sum type), a bare null, recursive records, a bytes
// decimal of precision above 18 (use fixed), a top-level schema that is not a record, and
// logical types on other base types than the ones above. Logical types Avro readers treat
// as unknown are kept as their base type.
type AvroTable struct {
	name   string
	root   *conv
	schema *parquet.Schema
}

// conv is one node of the Avro schema with its Parquet node and how values convert.
type conv struct {
	path     string
	kind     convKind
	optional bool
	node     parquet.Node
	fields   []convField // record
	elem     *conv       // array items, map values
	scale    int         // decimal
	size     int         // decimal: fixed size, 0 for INT64, -1 for INT32
	unit     time.Duration
}

type convField struct {
	name string
	c    *conv
}

type convKind uint8

const (
	kBool convKind = iota
	kInt32
	kInt64
	kFloat
	kDouble
	kString
	kBytes
	kDate
	kTimeMillis
	kTimeMicros
	kTimestamp
	kDecimal
	kRecord
	kArray
	kMap
)

// maxAvroDepth bounds the nesting FromAvro follows.
const maxAvroDepth = 64

// FromAvro derives the Parquet schema of a table from an Avro record schema (parsed with
// github.com/twmb/avro, as serde.Registry.SchemaByID returns it). The Parquet schema's
// name is the record's full name.
func FromAvro(s *avro.Schema) (*AvroTable, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil schema", ErrAvroUnsupported)
	}
	root := s.Root()
	if root == nil {
		return nil, fmt.Errorf("%w: schema without a root", ErrAvroUnsupported)
	}
	root = root.ExpandReferences()
	if root.Type != "record" && root.Type != "error" {
		return nil, fmt.Errorf("%w: the top-level schema is a %s, not a record", ErrAvroUnsupported, root.Type)
	}
	c, err := buildConv(root, "", map[string]bool{}, 0)
	if err != nil {
		return nil, err
	}
	name := root.Name
	if root.Namespace != "" && !strings.Contains(name, ".") {
		name = root.Namespace + "." + name
	}
	return &AvroTable{name: name, root: c, schema: parquet.NewSchema(name, c.node)}, nil
}

// Schema is the Parquet schema (Config.Schema).
func (t *AvroTable) Schema() *parquet.Schema { return t.schema }

// Node is the Parquet group of the record, to nest it in a larger schema (for example
// under a "data" column next to the CloudEvents attributes).
func (t *AvroTable) Node() parquet.Node { return t.root.node }

// Row converts a record decoded with the Avro schema into a row of the Parquet schema
// (a map[string]any whose values have the Parquet column types). It fails on a value
// that does not match the schema.
func (t *AvroTable) Row(v any) (map[string]any, error) {
	out, err := t.root.value(v)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

func fieldPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func buildConv(n *avro.SchemaNode, path string, visiting map[string]bool, depth int) (*conv, error) {
	if depth > maxAvroDepth {
		return nil, fmt.Errorf("%w: %s: nested deeper than %d", ErrAvroUnsupported, pathName(path), maxAvroDepth)
	}
	unsupported := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrAvroUnsupported, pathName(path), fmt.Sprintf(format, args...))
	}
	c := &conv{path: path}
	switch n.Type {
	case "union":
		var other []avro.SchemaNode
		nulls := 0
		for _, b := range n.Branches {
			if b.Type == "null" {
				nulls++
			} else {
				other = append(other, b)
			}
		}
		if nulls != 1 || len(other) != 1 {
			names := make([]string, len(n.Branches))
			for i, b := range n.Branches {
				names[i] = b.Type
			}
			return nil, unsupported("union [%s] is not a nullable type (Parquet has no union: only [\"null\", T] maps, to an optional column)", strings.Join(names, ", "))
		}
		inner, err := buildConv(&other[0], path, visiting, depth+1)
		if err != nil {
			return nil, err
		}
		if inner.optional {
			return nil, unsupported("nested nullable union")
		}
		inner.optional = true
		inner.node = parquet.Optional(inner.node)
		return inner, nil
	case "null":
		return nil, unsupported("a null type has no column")
	case "record", "error":
		full := n.Name
		if n.Namespace != "" && !strings.Contains(full, ".") {
			full = n.Namespace + "." + full
		}
		if visiting[full] {
			return nil, unsupported("record %s is recursive", full)
		}
		visiting[full] = true
		defer delete(visiting, full)
		if len(n.Fields) == 0 {
			return nil, unsupported("record %s has no fields (a Parquet group needs one)", full)
		}
		c.kind = kRecord
		g := parquet.Group{}
		for i := range n.Fields {
			f := &n.Fields[i]
			if _, dup := g[f.Name]; dup {
				return nil, unsupported("field %q appears twice", f.Name)
			}
			fc, err := buildConv(&f.Type, fieldPath(path, f.Name), visiting, depth+1)
			if err != nil {
				return nil, err
			}
			g[f.Name] = fc.node
			c.fields = append(c.fields, convField{name: f.Name, c: fc})
		}
		c.node = g
		return c, nil
	case "array":
		if n.Items == nil {
			return nil, unsupported("array without items")
		}
		e, err := buildConv(n.Items, path+"[]", visiting, depth+1)
		if err != nil {
			return nil, err
		}
		c.kind, c.elem, c.node = kArray, e, parquet.List(e.node)
		return c, nil
	case "map":
		if n.Values == nil {
			return nil, unsupported("map without values")
		}
		e, err := buildConv(n.Values, path+"{}", visiting, depth+1)
		if err != nil {
			return nil, err
		}
		c.kind, c.elem, c.node = kMap, e, parquet.Map(parquet.String(), e.node)
		return c, nil
	case "enum":
		c.kind, c.node = kString, parquet.Enum()
		return c, nil
	case "fixed":
		if n.Size <= 0 {
			return nil, unsupported("fixed of size %d", n.Size)
		}
		if n.LogicalType == "decimal" {
			if err := checkDecimal(n, unsupported); err != nil {
				return nil, err
			}
			c.kind, c.scale, c.size = kDecimal, n.Scale, n.Size
			c.node = parquet.Decimal(n.Scale, n.Precision, parquet.FixedLenByteArrayType(n.Size))
			return c, nil
		}
		c.kind, c.node = kBytes, parquet.Leaf(parquet.FixedLenByteArrayType(n.Size))
		return c, nil
	case "boolean":
		c.kind, c.node = kBool, parquet.Leaf(parquet.BooleanType)
	case "int":
		switch n.LogicalType {
		case "date":
			c.kind, c.node = kDate, parquet.Date()
		case "time-millis":
			c.kind, c.node = kTimeMillis, parquet.Time(parquet.Millisecond)
		default:
			if err := unknownLogical(n, unsupported, "date", "time-millis"); err != nil {
				return nil, err
			}
			c.kind, c.node = kInt32, parquet.Leaf(parquet.Int32Type)
		}
	case "long":
		switch lt := n.LogicalType; lt {
		case "time-micros":
			c.kind, c.node = kTimeMicros, parquet.Time(parquet.Microsecond)
		case "timestamp-millis", "timestamp-micros", "timestamp-nanos",
			"local-timestamp-millis", "local-timestamp-micros", "local-timestamp-nanos":
			unit, d := parquet.Millisecond, time.Millisecond
			switch {
			case strings.HasSuffix(lt, "micros"):
				unit, d = parquet.Microsecond, time.Microsecond
			case strings.HasSuffix(lt, "nanos"):
				unit, d = parquet.Nanosecond, time.Nanosecond
			}
			c.kind, c.unit = kTimestamp, d
			c.node = parquet.TimestampAdjusted(unit, !strings.HasPrefix(lt, "local-"))
		default:
			if err := unknownLogical(n, unsupported, "time-micros", "timestamp-millis", "timestamp-micros", "timestamp-nanos"); err != nil {
				return nil, err
			}
			c.kind, c.node = kInt64, parquet.Leaf(parquet.Int64Type)
		}
	case "float":
		c.kind, c.node = kFloat, parquet.Leaf(parquet.FloatType)
	case "double":
		c.kind, c.node = kDouble, parquet.Leaf(parquet.DoubleType)
	case "string":
		c.kind, c.node = kString, parquet.String()
	case "bytes":
		if n.LogicalType == "decimal" {
			if err := checkDecimal(n, unsupported); err != nil {
				return nil, err
			}
			if n.Precision > 18 {
				return nil, unsupported("bytes decimal(%d, %d): precision above 18 does not fit INT64; declare it as a fixed decimal", n.Precision, n.Scale)
			}
			c.kind, c.scale = kDecimal, n.Scale
			typ := parquet.Int64Type
			if n.Precision <= 9 {
				typ, c.size = parquet.Int32Type, -1
			}
			c.node = parquet.Decimal(n.Scale, n.Precision, typ)
			return c, nil
		}
		c.kind, c.node = kBytes, parquet.Leaf(parquet.ByteArrayType)
	default:
		for full := range visiting {
			if full == n.Type || strings.HasSuffix(full, "."+n.Type) {
				return nil, unsupported("record %s is recursive", n.Type)
			}
		}
		return nil, unsupported("type %q", n.Type)
	}
	return c, nil
}

func pathName(p string) string {
	if p == "" {
		return "record"
	}
	return "field " + p
}

// unknownLogical refuses a logical type that belongs to another base type (a decimal on
// an int, a timestamp on an int): Avro readers would ignore it, but a lake column that
// silently loses the annotation is worse than a clear error. Logical types Avro does not
// define pass (they are properties, readers keep the base type).
func unknownLogical(n *avro.SchemaNode, unsupported func(string, ...any) error, allowed ...string) error {
	switch n.LogicalType {
	case "", "uuid", "big-decimal", "duration":
		if n.LogicalType == "uuid" && n.Type != "string" && n.Type != "fixed" {
			return unsupported("logical type uuid on %s", n.Type)
		}
		if n.LogicalType == "big-decimal" || n.LogicalType == "duration" {
			return unsupported("logical type %s has no Parquet type here", n.LogicalType)
		}
		return nil
	case "date", "time-millis", "time-micros", "timestamp-millis", "timestamp-micros", "timestamp-nanos",
		"local-timestamp-millis", "local-timestamp-micros", "local-timestamp-nanos", "decimal":
		return unsupported("logical type %s on %s (want one of %s)", n.LogicalType, n.Type, strings.Join(allowed, ", "))
	}
	return nil
}

func checkDecimal(n *avro.SchemaNode, unsupported func(string, ...any) error) error {
	if n.Precision <= 0 || n.Scale < 0 || n.Scale > n.Precision {
		return unsupported("decimal(%d, %d) is not a valid decimal", n.Precision, n.Scale)
	}
	if n.Type == "fixed" {
		if n.Size > 64 {
			return unsupported("fixed(%d) decimal is larger than 64 bytes", n.Size)
		}
		// A fixed of n bytes holds at most floor(log10(2^(8n-1)-1)) digits.
		max := new(big.Int).Lsh(big.NewInt(1), uint(8*n.Size-1))
		if len(max.String())-1 < n.Precision {
			return unsupported("fixed(%d) decimal cannot hold precision %d", n.Size, n.Precision)
		}
	}
	return nil
}

// value converts one decoded Avro value into its Parquet form.
func (c *conv) value(v any) (any, error) {
	if v == nil {
		if c.optional {
			return nil, nil
		}
		return nil, fmt.Errorf("lake: %s: null for a required column", pathName(c.path))
	}
	bad := func() error {
		return fmt.Errorf("lake: %s: value %T does not match the Avro schema", pathName(c.path), v)
	}
	switch c.kind {
	case kBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case kInt32:
		if i, ok := asInt(v); ok && int64(int32(i)) == i {
			return int32(i), nil
		}
	case kInt64:
		if i, ok := asInt(v); ok {
			return i, nil
		}
	case kFloat:
		switch f := v.(type) {
		case float32:
			return f, nil
		case float64:
			return float32(f), nil
		}
	case kDouble:
		switch f := v.(type) {
		case float64:
			return f, nil
		case float32:
			return float64(f), nil
		}
	case kString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case kBytes:
		switch b := v.(type) {
		case []byte:
			return b, nil
		case string:
			return []byte(b), nil
		}
	case kDate:
		switch t := v.(type) {
		case time.Time:
			return int32(t.Unix() / 86400), nil
		default:
			if i, ok := asInt(v); ok {
				return int32(i), nil
			}
		}
	case kTimeMillis:
		switch d := v.(type) {
		case time.Duration:
			return int32(d / time.Millisecond), nil
		default:
			if i, ok := asInt(v); ok {
				return int32(i), nil
			}
		}
	case kTimeMicros:
		switch d := v.(type) {
		case time.Duration:
			return int64(d / time.Microsecond), nil
		default:
			if i, ok := asInt(v); ok {
				return i, nil
			}
		}
	case kTimestamp:
		switch t := v.(type) {
		case time.Time:
			switch c.unit {
			case time.Millisecond:
				return t.UnixMilli(), nil
			case time.Microsecond:
				return t.UnixMicro(), nil
			}
			return t.UnixNano(), nil
		default:
			if i, ok := asInt(v); ok {
				return i, nil
			}
		}
	case kDecimal:
		return c.decimal(v)
	case kRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad()
		}
		out := make(map[string]any, len(c.fields))
		for _, f := range c.fields {
			x, err := f.c.value(m[f.name])
			if err != nil {
				return nil, err
			}
			out[f.name] = x
		}
		return out, nil
	case kArray:
		a, ok := v.([]any)
		if !ok {
			return nil, bad()
		}
		out := make([]any, len(a))
		for i, x := range a {
			y, err := c.elem.value(x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case kMap:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, bad()
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			y, err := c.elem.value(x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	}
	return nil, bad()
}

func asInt(v any) (int64, bool) {
	switch i := v.(type) {
	case int:
		return int64(i), true
	case int32:
		return int64(i), true
	case int64:
		return i, true
	}
	return 0, false
}

// decimal converts a *big.Rat (twmb/avro's decimal) to the unscaled integer: an int64, or
// the big-endian two's complement bytes of a fixed.
func (c *conv) decimal(v any) (any, error) {
	r, ok := v.(*big.Rat)
	if !ok || r == nil {
		return nil, fmt.Errorf("lake: %s: value %T is not a decimal", pathName(c.path), v)
	}
	u := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.scale)), nil)))
	if !u.IsInt() {
		return nil, fmt.Errorf("lake: %s: %s has more than %d decimal places", pathName(c.path), r.FloatString(c.scale+2), c.scale)
	}
	n := u.Num()
	switch c.size {
	case 0:
		if !n.IsInt64() {
			return nil, fmt.Errorf("lake: %s: decimal %s overflows INT64", pathName(c.path), r.String())
		}
		return n.Int64(), nil
	case -1:
		if !n.IsInt64() || int64(int32(n.Int64())) != n.Int64() {
			return nil, fmt.Errorf("lake: %s: decimal %s overflows INT32", pathName(c.path), r.String())
		}
		return int32(n.Int64()), nil
	}
	return twosComplement(n, c.size, c.path)
}

func twosComplement(n *big.Int, size int, path string) ([]byte, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), uint(8*size-1))
	if n.Cmp(limit) >= 0 || n.Cmp(new(big.Int).Neg(limit)) < 0 {
		return nil, fmt.Errorf("lake: %s: decimal does not fit %d bytes", pathName(path), size)
	}
	x := new(big.Int).Set(n)
	if x.Sign() < 0 {
		x.Add(x, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
	}
	out := make([]byte, size)
	x.FillBytes(out)
	return out, nil
}
