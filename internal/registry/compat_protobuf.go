package registry

import (
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Protobuf compatibility: the update can parse what the original writes. Confluent's rules (its
// protobuf.diff package), restated, with the protobuf language guide's "Updating A Message
// Type" behind them:
//
//   - fields are matched by number; adding or removing an optional/repeated field is
//     compatible (unknown fields are skipped, missing ones take their default); adding or
//     removing a proto2 required field is not; renaming a field is compatible (the name is not
//     on the wire).
//   - a field's kind (scalar, message, map) may not change; scalars may change only within a
//     wire-compatible group: {int32, int64, uint32, uint64, bool, enums}, {sint32, sint64},
//     {string, bytes}, {fixed32, sfixed32}, {fixed64, sfixed64}, {float}, {double};
//     a message field may not change to another message name (its fields are compared
//     recursively); repeated ↔ singular is compatible for string, bytes and messages and not
//     for numbers (packed encoding).
//   - oneof: adding or removing a oneof, or adding a field to one, is compatible; removing a
//     field from a oneof is not, nor moving several existing fields into one oneof, nor moving
//     a field into a oneof that already existed.
//   - messages and enums: adding one, moving (reordering) a message, adding, removing or
//     renaming an enum constant are compatible; removing a message is not; changing the
//     package is not.
//   - reserved: a number the original reserves may not stop being reserved, and the update may
//     not use it for a field.
//   - syntax proto2 ↔ proto3 is not itself a difference (the encoding is the same); what it
//     changes (required fields) is judged by the rules above.

var protobufCompatibleChanges = setOf(
	"MESSAGE_ADDED", "MESSAGE_MOVED", "ENUM_ADDED", "ENUM_REMOVED", "ENUM_CONST_ADDED", "ENUM_CONST_CHANGED",
	"ENUM_CONST_REMOVED", "FIELD_ADDED", "FIELD_REMOVED", "FIELD_NAME_CHANGED", "FIELD_STRING_OR_BYTES_LABEL_CHANGED",
	"ONEOF_ADDED", "ONEOF_REMOVED", "ONEOF_FIELD_ADDED",
)

// protobufDiff returns the incompatible differences between original and update. newer says the
// update is the newer of the two versions: the reserved-number rules guard the order of
// evolution (a later version may not reuse or release what an earlier one reserved), so they
// apply only then; removing a field and reserving its number is how a field is retired.
func protobufDiff(original, update protoreflect.FileDescriptor, newer bool) []difference {
	c := newDiffCtx(protobufCompatibleChanges)
	c.newer = newer
	if original.Package() != update.Package() {
		c.add("PACKAGE_CHANGED")
	}
	protoCompareTypes(c, original.Messages(), original.Enums(), update.Messages(), update.Enums())
	return c.incompatible()
}

func protoCompareTypes(c *diffCtx, oms protoreflect.MessageDescriptors, oes protoreflect.EnumDescriptors,
	ums protoreflect.MessageDescriptors, ues protoreflect.EnumDescriptors) {
	om, oIdx := protoMessagesByName(oms)
	um, uIdx := protoMessagesByName(ums)
	for _, name := range sortedKeys(om, um) {
		func() {
			defer c.enter(name)()
			o, u := om[name], um[name]
			switch {
			case u == nil:
				c.add("MESSAGE_REMOVED")
			case o == nil:
				c.add("MESSAGE_ADDED")
			default:
				protoCompareMessage(c, o, u)
				if oIdx[name] != uIdx[name] {
					c.add("MESSAGE_MOVED")
				}
			}
		}()
	}
	oe, ue := protoEnumsByName(oes), protoEnumsByName(ues)
	for _, name := range sortedKeys(oe, ue) {
		func() {
			defer c.enter(name)()
			o, u := oe[name], ue[name]
			switch {
			case u == nil:
				c.add("ENUM_REMOVED")
			case o == nil:
				c.add("ENUM_ADDED")
			default:
				protoCompareEnum(c, o, u)
			}
		}()
	}
}

// protoMessagesByName indexes messages by name, leaving out map entries (which a .proto file
// does not declare).
func protoMessagesByName(ms protoreflect.MessageDescriptors) (map[string]protoreflect.MessageDescriptor, map[string]int) {
	out, idx := map[string]protoreflect.MessageDescriptor{}, map[string]int{}
	n := 0
	for i := 0; i < ms.Len(); i++ {
		m := ms.Get(i)
		if m.IsMapEntry() {
			continue
		}
		out[string(m.Name())] = m
		idx[string(m.Name())] = n
		n++
	}
	return out, idx
}

func protoEnumsByName(es protoreflect.EnumDescriptors) map[string]protoreflect.EnumDescriptor {
	out := map[string]protoreflect.EnumDescriptor{}
	for i := 0; i < es.Len(); i++ {
		out[string(es.Get(i).Name())] = es.Get(i)
	}
	return out
}

// realOneof is the oneof a field belongs to, ignoring the synthetic oneofs of proto3 optional.
func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}

func protoCompareMessage(c *diffCtx, o, u protoreflect.MessageDescriptor) {
	if !c.spend() {
		return
	}
	pair := [2]any{o.FullName(), u.FullName()}
	if c.seen[pair] {
		return
	}
	c.seen[pair] = true
	defer delete(c.seen, pair)

	oTop, uTop := map[int]protoreflect.FieldDescriptor{}, map[int]protoreflect.FieldDescriptor{}
	oAll, uAll := map[int]protoreflect.FieldDescriptor{}, map[int]protoreflect.FieldDescriptor{}
	oOneofOf, uOneofOf := map[int]string{}, map[int]string{}
	for i := 0; i < o.Fields().Len(); i++ {
		f := o.Fields().Get(i)
		oAll[int(f.Number())] = f
		if oo := realOneof(f); oo != nil {
			oOneofOf[int(f.Number())] = string(oo.Name())
		} else {
			oTop[int(f.Number())] = f
		}
	}
	for i := 0; i < u.Fields().Len(); i++ {
		f := u.Fields().Get(i)
		uAll[int(f.Number())] = f
		if uo := realOneof(f); uo != nil {
			uOneofOf[int(f.Number())] = string(uo.Name())
		} else {
			uTop[int(f.Number())] = f
		}
	}
	oOneofs, uOneofs := protoOneofs(o), protoOneofs(u)
	// Fields moved into a oneof of the update.
	for _, name := range sortedKeys(uOneofs) {
		func() {
			defer c.enter(name)()
			moved, existing := 0, 0
			for _, num := range uOneofs[name] {
				if _, ok := oTop[num]; ok {
					delete(oTop, num) // not a removal
					moved++
				} else if _, ok := oOneofOf[num]; ok {
					existing++
				}
			}
			if moved > 1 {
				c.add("MULTIPLE_FIELDS_MOVED_TO_ONEOF")
			} else if moved == 1 && existing > 0 {
				c.add("FIELD_MOVED_TO_EXISTING_ONEOF")
			}
		}()
	}
	for _, name := range sortedKeys(oOneofs, uOneofs) {
		func() {
			defer c.enter(name)()
			on, oOK := oOneofs[name]
			un, uOK := uOneofs[name]
			switch {
			case !uOK:
				c.add("ONEOF_REMOVED")
			case !oOK:
				c.add("ONEOF_ADDED")
			default:
				in := func(nums []int, n int) bool {
					for _, x := range nums {
						if x == n {
							return true
						}
					}
					return false
				}
				for _, num := range sortedInts(on, un) {
					func() {
						defer c.enter(strconv.Itoa(num))()
						switch {
						case !in(un, num):
							if _, still := uAll[num]; !still {
								c.add("ONEOF_FIELD_REMOVED")
							}
						case !in(on, num):
							c.add("ONEOF_FIELD_ADDED")
						default:
							protoCompareField(c, oAll[num], uAll[num])
						}
					}()
				}
			}
		}()
	}
	for _, num := range sortedInts(keysOf(oTop), keysOf(uTop)) {
		func() {
			defer c.enter(strconv.Itoa(num))()
			of, uf := oTop[num], uTop[num]
			switch {
			case uf == nil:
				if of.Cardinality() == protoreflect.Required {
					c.add("REQUIRED_FIELD_REMOVED")
				} else {
					c.add("FIELD_REMOVED")
				}
			case of == nil:
				if uf.Cardinality() == protoreflect.Required {
					c.add("REQUIRED_FIELD_ADDED")
				} else {
					c.add("FIELD_ADDED")
				}
				if c.newer && protoReserved(o.ReservedRanges(), num) {
					c.add("RESERVED_FIELD_NUMBER_USED")
				}
			default:
				protoCompareField(c, of, uf)
			}
		}()
	}
	// Fields whose oneof membership changed are compared by number too.
	for _, num := range sortedInts(keysOf(oAll)) {
		uf, ok := uAll[num]
		if !ok {
			continue
		}
		oo, uo := oOneofOf[num], uOneofOf[num]
		if oo == uo {
			continue // both top-level, or in the same oneof: compared above
		}
		func() {
			defer c.enter(strconv.Itoa(num))()
			protoCompareField(c, oAll[num], uf)
		}()
	}
	if c.newer && protoRangesUncovered(o.ReservedRanges(), u.ReservedRanges()) {
		c.add("RESERVED_NUMBER_REMOVED")
	}
	protoCompareTypes(c, o.Messages(), o.Enums(), u.Messages(), u.Enums())
}

func protoOneofs(m protoreflect.MessageDescriptor) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < m.Oneofs().Len(); i++ {
		od := m.Oneofs().Get(i)
		if od.IsSynthetic() {
			continue
		}
		var nums []int
		for j := 0; j < od.Fields().Len(); j++ {
			nums = append(nums, int(od.Fields().Get(j).Number()))
		}
		out[string(od.Name())] = nums
	}
	return out
}

func keysOf[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortedInts(lists ...[]int) []int {
	set := map[int]bool{}
	for _, l := range lists {
		for _, n := range l {
			set[n] = true
		}
	}
	out := keysOf(set)
	sort.Ints(out)
	return out
}

func protoReserved(r protoreflect.FieldRanges, num int) bool {
	return r.Has(protoreflect.FieldNumber(num))
}

// protoRangesUncovered reports whether some number in o is not in u.
func protoRangesUncovered(o, u protoreflect.FieldRanges) bool {
	for i := 0; i < o.Len(); i++ {
		r := o.Get(i) // [start, end)
		for n := r[0]; n < r[1]; {
			if !u.Has(n) {
				return true
			}
			// skip to the end of the u range holding n
			next := n + 1
			for j := 0; j < u.Len(); j++ {
				if ur := u.Get(j); ur[0] <= n && n < ur[1] {
					next = ur[1]
				}
			}
			n = next
		}
	}
	return false
}

func protoRangesUncoveredEnum(o, u protoreflect.EnumRanges) bool {
	for i := 0; i < o.Len(); i++ {
		r := o.Get(i) // [start, end] inclusive
		for n := int64(r[0]); n <= int64(r[1]); {
			if !u.Has(protoreflect.EnumNumber(n)) {
				return true
			}
			next := n + 1
			for j := 0; j < u.Len(); j++ {
				if ur := u.Get(j); int64(ur[0]) <= n && n <= int64(ur[1]) {
					next = int64(ur[1]) + 1
				}
			}
			n = next
		}
	}
	return false
}

func protoCompareEnum(c *diffCtx, o, u protoreflect.EnumDescriptor) {
	ov, uv := map[int]string{}, map[int]string{}
	for i := 0; i < o.Values().Len(); i++ {
		ov[int(o.Values().Get(i).Number())] = string(o.Values().Get(i).Name())
	}
	for i := 0; i < u.Values().Len(); i++ {
		uv[int(u.Values().Get(i).Number())] = string(u.Values().Get(i).Name())
	}
	for _, n := range sortedInts(keysOf(ov), keysOf(uv)) {
		func() {
			defer c.enter(strconv.Itoa(n))()
			on, oOK := ov[n]
			un, uOK := uv[n]
			switch {
			case !uOK:
				c.add("ENUM_CONST_REMOVED")
			case !oOK:
				c.add("ENUM_CONST_ADDED")
				if c.newer && o.ReservedRanges().Has(protoreflect.EnumNumber(n)) {
					c.add("RESERVED_FIELD_NUMBER_USED")
				}
			case on != un:
				c.add("ENUM_CONST_CHANGED")
			}
		}()
	}
	if c.newer && protoRangesUncoveredEnum(o.ReservedRanges(), u.ReservedRanges()) {
		c.add("RESERVED_NUMBER_REMOVED")
	}
}

type protoKind int

const (
	pScalar protoKind = iota
	pMessage
	pMap
)

func protoKindOf(f protoreflect.FieldDescriptor) protoKind {
	switch {
	case f.IsMap():
		return pMap
	case f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind:
		return pMessage
	}
	return pScalar
}

// protoScalarGroup is the wire-compatible group of a scalar kind (enums are varints).
func protoScalarGroup(k protoreflect.Kind) string {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
		protoreflect.BoolKind, protoreflect.EnumKind:
		return "GENERAL_NUMBER"
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return "SIGNED_NUMBER"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "STRING_OR_BYTES"
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return "FIXED32"
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return "FIXED64"
	case protoreflect.FloatKind:
		return "FLOAT"
	case protoreflect.DoubleKind:
		return "DOUBLE"
	}
	return k.String()
}

func protoCompareField(c *diffCtx, o, u protoreflect.FieldDescriptor) {
	if o.Name() != u.Name() {
		c.add("FIELD_NAME_CHANGED")
	}
	if !o.IsMap() && !u.IsMap() && o.IsList() != u.IsList() {
		if k := o.Kind(); k == protoreflect.StringKind || k == protoreflect.BytesKind || k == protoreflect.MessageKind || k == protoreflect.GroupKind {
			c.add("FIELD_STRING_OR_BYTES_LABEL_CHANGED")
		} else {
			c.add("FIELD_NUMERIC_LABEL_CHANGED")
		}
	}
	protoCompareFieldTypes(c, o, u)
}

func protoCompareFieldTypes(c *diffCtx, o, u protoreflect.FieldDescriptor) {
	ok, uk := protoKindOf(o), protoKindOf(u)
	if ok != uk {
		c.add("FIELD_KIND_CHANGED")
		return
	}
	switch ok {
	case pScalar:
		if protoScalarGroup(o.Kind()) != protoScalarGroup(u.Kind()) {
			c.add("FIELD_SCALAR_KIND_CHANGED")
		}
	case pMap:
		protoCompareFieldTypes(c, o.MapKey(), u.MapKey())
		protoCompareFieldTypes(c, o.MapValue(), u.MapValue())
	case pMessage:
		om, um := o.Message(), u.Message()
		if localProtoName(om) != localProtoName(um) {
			c.add("FIELD_NAMED_TYPE_CHANGED")
			return
		}
		s := c.sub()
		s.path = []string{localProtoName(om)}
		protoCompareMessage(s, om, um)
		c.diffs = append(c.diffs, s.diffs...)
		if !s.isCompatible() {
			c.add("FIELD_NAMED_TYPE_CHANGED")
		}
	}
}

// localProtoName is a message's full name without its file's package.
func localProtoName(m protoreflect.MessageDescriptor) string {
	full := string(m.FullName())
	if pkg := string(m.ParentFile().Package()); pkg != "" {
		return strings.TrimPrefix(full, pkg+".")
	}
	return full
}

// describeProtobufDifference describes a Protobuf difference, with {update} and {original}
// standing for the schemas' roles ("new" / "old").
func describeProtobufDifference(d difference) string {
	p := d.path
	switch d.typ {
	case "PACKAGE_CHANGED":
		return "The package of the {update} schema differs from the package of the {original} schema"
	case "MESSAGE_REMOVED":
		return "The {update} schema is missing a message present at path '" + p + "' in the {original} schema"
	case "REQUIRED_FIELD_ADDED":
		return "The {update} schema has a required field at path '" + p + "' which is missing in the {original} schema"
	case "REQUIRED_FIELD_REMOVED":
		return "The {update} schema is missing a required field present at path '" + p + "' in the {original} schema"
	case "FIELD_KIND_CHANGED":
		return "The kind (scalar, message or map) of the field at path '" + p + "' differs between the {update} schema and the {original} schema"
	case "FIELD_SCALAR_KIND_CHANGED":
		return "The type of the field at path '" + p + "' in the {update} schema is not wire-compatible with its type in the {original} schema"
	case "FIELD_NAMED_TYPE_CHANGED":
		return "The message type of the field at path '" + p + "' differs between the {update} schema and the {original} schema"
	case "FIELD_NUMERIC_LABEL_CHANGED":
		return "The numeric field at path '" + p + "' is repeated in one of the {update} and {original} schemas and singular in the other"
	case "ONEOF_FIELD_REMOVED":
		return "The {update} schema is missing a oneof field present at path '" + p + "' in the {original} schema"
	case "MULTIPLE_FIELDS_MOVED_TO_ONEOF":
		return "The {update} schema has a oneof at path '" + p + "' holding several fields of the {original} schema"
	case "FIELD_MOVED_TO_EXISTING_ONEOF":
		return "The {update} schema moves a field of the {original} schema into the existing oneof at path '" + p + "'"
	case "RESERVED_FIELD_NUMBER_USED":
		return "The {update} schema uses the number at path '" + p + "', which the {original} schema reserves"
	case "RESERVED_NUMBER_REMOVED":
		return "The {update} schema no longer reserves a number that the {original} schema reserves at path '" + p + "'"
	case "SCHEMA_TOO_COMPLEX_TO_COMPARE":
		return "The schemas are too complex to compare; the registry stopped after " + strconv.Itoa(maxComparisons) + " comparisons"
	}
	return "A change at path '" + p + "' between the {original} schema and the {update} schema is incompatible"
}
