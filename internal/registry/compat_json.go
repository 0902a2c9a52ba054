package registry

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// JSON Schema compatibility: the update must accept every document the original accepts.
// Confluent's rules (its json.diff package), restated:
//
//   - types: a changed type is incompatible (TYPE_CHANGED), except to the empty schema {} / true
//     or from false; integer → number is TYPE_EXTENDED (compatible), number → integer
//     TYPE_NARROWED; a type becoming a oneOf/anyOf that has a compatible branch is
//     SUM_TYPE_EXTENDED (compatible).
//   - limits: a limit removed, or relaxed (maxLength/maximum/maxItems/maxProperties raised,
//     the minimums lowered, multipleOf divided) is compatible; added or tightened is not;
//     pattern added or changed is not, removed is.
//   - objects: the content model is open when there is no additionalProperties (or it is true)
//     and no patternProperties; closed when additionalProperties is false; partially open
//     otherwise. A property may be removed from an open model, added to a closed one (a new
//     required one only with a default), added or removed when the partial model's schema
//     covers it; adding a property to an open model is incompatible unless its schema is {}.
//     Making a property required is incompatible (unless it has a default), optional is fine.
//     additionalProperties going from allowed to false is incompatible, the reverse is fine.
//   - arrays: the same rules for items, tuple items and additionalItems; uniqueItems added is
//     incompatible.
//   - enum: values added (ENUM_ARRAY_EXTENDED) compatible, removed or changed not.
//   - allOf/anyOf/oneOf: the criterion may become anyOf, a singleton may become oneOf; every
//     subschema of the smaller side must match a compatible one of the other (a maximum
//     matching); anyOf/oneOf with more branches is compatible, with fewer not; allOf with
//     fewer is compatible, with more not.
//   - not: the negated schema may only shrink.
//   - $ref is followed (within the document, or to a referenced subject's schema).
//   - id, title, description, default changes are compatible.

var jsonCompatibleChanges = setOf(
	"ID_CHANGED", "DESCRIPTION_CHANGED", "TITLE_CHANGED", "DEFAULT_CHANGED", "SCHEMA_REMOVED", "TYPE_EXTENDED",
	"MAX_LENGTH_INCREASED", "MAX_LENGTH_REMOVED", "MIN_LENGTH_DECREASED", "MIN_LENGTH_REMOVED", "PATTERN_REMOVED",
	"MAXIMUM_INCREASED", "MAXIMUM_REMOVED", "MINIMUM_DECREASED", "MINIMUM_REMOVED",
	"EXCLUSIVE_MAXIMUM_INCREASED", "EXCLUSIVE_MAXIMUM_REMOVED", "EXCLUSIVE_MINIMUM_DECREASED", "EXCLUSIVE_MINIMUM_REMOVED",
	"MULTIPLE_OF_REDUCED", "MULTIPLE_OF_REMOVED",
	"REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", "REQUIRED_ATTRIBUTE_REMOVED", "DEPENDENCY_ARRAY_NARROWED",
	"DEPENDENCY_ARRAY_REMOVED", "DEPENDENCY_SCHEMA_REMOVED", "MAX_PROPERTIES_INCREASED", "MAX_PROPERTIES_REMOVED",
	"MIN_PROPERTIES_DECREASED", "MIN_PROPERTIES_REMOVED", "ADDITIONAL_PROPERTIES_ADDED", "ADDITIONAL_PROPERTIES_EXTENDED",
	"PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
	"OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
	"PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
	"PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
	"MAX_ITEMS_INCREASED", "MAX_ITEMS_REMOVED", "MIN_ITEMS_DECREASED", "MIN_ITEMS_REMOVED", "UNIQUE_ITEMS_REMOVED",
	"ADDITIONAL_ITEMS_ADDED", "ADDITIONAL_ITEMS_EXTENDED", "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
	"ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
	"ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
	"ENUM_ARRAY_EXTENDED", "COMBINED_TYPE_EXTENDED", "PRODUCT_TYPE_NARROWED", "SUM_TYPE_EXTENDED", "NOT_TYPE_NARROWED",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// jsonDiff returns the incompatible differences between original and update.
func jsonDiff(original, update *jsonDoc) []difference {
	c := newDiffCtx(jsonCompatibleChanges)
	jsonCompare(c, classifyJSON(original, original.root, 0), classifyJSON(update, update.root, 0))
	return c.incompatible()
}

type jsonKindT int

const (
	jEmpty jsonKindT = iota
	jFalse
	jString
	jNumber
	jBoolean
	jNull
	jObject
	jArray
	jEnum
	jCombined
	jNot
)

// jnode is a JSON Schema node classified as everit (the library Confluent's registry uses)
// models it: one kind per node, a type list or a schema mixing a combinator with other
// keywords becoming a combined schema.
type jnode struct {
	kind      jsonKindT
	m         map[string]any // the keywords (nil for true/false)
	doc       *jsonDoc
	integer   bool     // jNumber: "type":"integer"
	criterion string   // jCombined: allOf, anyOf, oneOf
	subs      []*jnode // jCombined
	key       any      // identity for the cycle guard
}

var jsonTypeKeywords = map[string][]string{
	"object": {"properties", "required", "additionalProperties", "patternProperties", "minProperties", "maxProperties", "dependencies", "dependentRequired", "dependentSchemas", "propertyNames"},
	"array":  {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains"},
	"string": {"minLength", "maxLength", "pattern"},
	"number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
}

const maxRefHops = 64

// classifyJSON classifies v (a schema inside doc), following $refs.
func classifyJSON(doc *jsonDoc, v any, hops int) *jnode {
	switch v := v.(type) {
	case nil:
		return nil
	case bool:
		if v {
			return &jnode{kind: jEmpty, doc: doc, key: true}
		}
		return &jnode{kind: jFalse, doc: doc, key: false}
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok && hops < maxRefHops {
			if d, target, ok := resolveJSONRef(doc, ref); ok {
				return classifyJSON(d, target, hops+1)
			}
			return &jnode{kind: jEmpty, m: v, doc: doc, key: reflect.ValueOf(v).Pointer()}
		}
		return classifyJSONObject(doc, v)
	}
	return &jnode{kind: jEmpty, doc: doc, key: true}
}

func classifyJSONObject(doc *jsonDoc, m map[string]any) *jnode {
	n := &jnode{m: m, doc: doc, key: reflect.ValueOf(m).Pointer()}
	// Combinators mixed with other keywords: allOf [the rest, each combinator].
	var combos []string
	for _, k := range []string{"allOf", "anyOf", "oneOf", "not"} {
		if _, ok := m[k]; ok {
			combos = append(combos, k)
		}
	}
	rest := without(m, "allOf", "anyOf", "oneOf", "not")
	if len(combos) > 1 || len(combos) == 1 && hasTypeKeywords(rest) {
		n.kind, n.criterion = jCombined, "allOf"
		if hasTypeKeywords(rest) {
			n.subs = append(n.subs, classifyJSONObject(doc, rest))
		}
		for _, k := range combos {
			n.subs = append(n.subs, classifyJSONObject(doc, map[string]any{k: m[k]}))
		}
		return n
	}
	if len(combos) == 1 {
		k := combos[0]
		if k == "not" {
			n.kind = jNot
			n.subs = []*jnode{classifyJSON(doc, m["not"], 0)}
			return n
		}
		n.kind, n.criterion = jCombined, k
		arr, _ := m[k].([]any)
		for _, s := range arr {
			n.subs = append(n.subs, classifyJSON(doc, s, 0))
		}
		return n
	}
	if _, ok := m["enum"].([]any); ok {
		n.kind = jEnum
		return n
	}
	if _, ok := m["const"]; ok {
		n.kind = jEnum
		return n
	}
	switch t := m["type"].(type) {
	case string:
		return setJSONType(n, t)
	case []any:
		if len(t) == 1 {
			if s, ok := t[0].(string); ok {
				return setJSONType(n, s)
			}
		}
		n.kind, n.criterion = jCombined, "anyOf"
		for _, e := range t {
			if s, ok := e.(string); ok {
				c := without(m, "type")
				c["type"] = s
				n.subs = append(n.subs, classifyJSONObject(doc, c))
			}
		}
		return n
	}
	for _, t := range []string{"object", "array", "string", "number"} {
		for _, k := range jsonTypeKeywords[t] {
			if _, ok := m[k]; ok {
				return setJSONType(n, t)
			}
		}
	}
	n.kind = jEmpty
	return n
}

func setJSONType(n *jnode, t string) *jnode {
	switch t {
	case "string":
		n.kind = jString
	case "number":
		n.kind = jNumber
	case "integer":
		n.kind, n.integer = jNumber, true
	case "boolean":
		n.kind = jBoolean
	case "null":
		n.kind = jNull
	case "object":
		n.kind = jObject
	case "array":
		n.kind = jArray
	default:
		n.kind = jEmpty
	}
	return n
}

func hasTypeKeywords(m map[string]any) bool {
	if _, ok := m["type"]; ok {
		return true
	}
	if _, ok := m["enum"]; ok {
		return true
	}
	for _, ks := range jsonTypeKeywords {
		for _, k := range ks {
			if _, ok := m[k]; ok {
				return true
			}
		}
	}
	return false
}

func without(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// resolveJSONRef finds the schema ref points to: a JSON pointer into doc's root ("#/..."), or a
// referenced document (by reference name or URL) and a pointer into it.
func resolveJSONRef(doc *jsonDoc, ref string) (*jsonDoc, any, bool) {
	loc, frag, _ := strings.Cut(ref, "#")
	if loc != "" {
		target, found := findJSONRefDoc(doc, loc)
		if !found {
			return nil, nil, false
		}
		// Refs inside the referenced document resolve against it.
		doc = &jsonDoc{root: target, refs: doc.refs}
	}
	v, ok := jsonPointer(doc.root, frag)
	return doc, v, ok
}

func findJSONRefDoc(doc *jsonDoc, loc string) (any, bool) {
	if d, ok := doc.refs[loc]; ok {
		return d, true
	}
	// By URL: the location and each reference name resolved against the registry's base.
	lu, err := url.Parse(loc)
	if err != nil {
		return nil, false
	}
	abs := loc
	if !lu.IsAbs() {
		abs = jsonRefBase + strings.TrimPrefix(loc, "/")
	}
	for name, d := range doc.refs {
		for _, u := range jsonRefURLs(name, jsonRefBase) {
			if u == abs || u == loc {
				return d, true
			}
		}
		if path.Base(name) == path.Base(lu.Path) {
			return d, true
		}
	}
	return nil, false
}

// jsonPointer follows an RFC 6901 pointer (the fragment of a $ref) from v.
func jsonPointer(v any, ptr string) (any, bool) {
	if ptr == "" {
		return v, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false // an anchor: not followed
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok, _ = url.PathUnescape(tok)
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func jsonCompare(c *diffCtx, o, u *jnode) {
	if !c.spend() {
		return
	}
	switch {
	case o == nil && u == nil:
		return
	case o == nil:
		c.add("SCHEMA_ADDED")
		return
	case u == nil:
		c.add("SCHEMA_REMOVED")
		return
	}
	if o.kind != jCombined && u.kind == jCombined {
		if len(u.subs) == 1 {
			s := c.sub()
			jsonCompare(s, o, u.subs[0])
			if s.isCompatible() {
				c.diffs = append(c.diffs, s.diffs...)
				return
			}
		} else if u.criterion == "anyOf" || u.criterion == "oneOf" {
			for _, us := range u.subs {
				s := c.sub()
				jsonCompare(s, o, us)
				if s.isCompatible() {
					c.diffs = append(c.diffs, s.diffs...)
					c.add("SUM_TYPE_EXTENDED")
					return
				}
			}
		}
	} else if o.kind == jCombined && u.kind != jCombined && len(o.subs) == 1 {
		s := c.sub()
		jsonCompare(s, o.subs[0], u)
		if s.isCompatible() {
			c.diffs = append(c.diffs, s.diffs...)
			return
		}
	}
	if o.kind != u.kind {
		if o.kind == jFalse || u.kind == jEmpty {
			return
		}
		c.add("TYPE_CHANGED")
		return
	}
	pair := [2]any{o.key, u.key}
	if c.seen[pair] {
		return
	}
	c.seen[pair] = true
	defer delete(c.seen, pair)

	for _, k := range []struct{ kw, typ string }{{"$id", "ID_CHANGED"}, {"title", "TITLE_CHANGED"}, {"description", "DESCRIPTION_CHANGED"}, {"default", "DEFAULT_CHANGED"}} {
		if !jsonEqual(o.m[k.kw], u.m[k.kw]) {
			c.add(k.typ)
		}
	}
	switch o.kind {
	case jString:
		jsonCompareLimit(c, o.m, u.m, "maxLength", "MAX_LENGTH")
		jsonCompareLimit(c, o.m, u.m, "minLength", "MIN_LENGTH")
		op, oOK := o.m["pattern"].(string)
		up, uOK := u.m["pattern"].(string)
		switch {
		case !oOK && uOK:
			c.addAt("pattern", "PATTERN_ADDED")
		case oOK && !uOK:
			c.addAt("pattern", "PATTERN_REMOVED")
		case oOK && uOK && op != up:
			c.addAt("pattern", "PATTERN_CHANGED")
		}
	case jNumber:
		jsonCompareLimit(c, o.m, u.m, "maximum", "MAXIMUM")
		jsonCompareLimit(c, o.m, u.m, "minimum", "MINIMUM")
		jsonCompareLimit(c, o.m, u.m, "exclusiveMaximum", "EXCLUSIVE_MAXIMUM")
		jsonCompareLimit(c, o.m, u.m, "exclusiveMinimum", "EXCLUSIVE_MINIMUM")
		jsonCompareMultipleOf(c, o.m["multipleOf"], u.m["multipleOf"])
		if o.integer != u.integer {
			if o.integer {
				c.add("TYPE_EXTENDED")
			} else {
				c.add("TYPE_NARROWED")
			}
		}
	case jEnum:
		ov, uv := jsonEnumValues(o.m), jsonEnumValues(u.m)
		switch {
		case equalSets(ov, uv):
		case containsAll(uv, ov):
			c.addAt("enum", "ENUM_ARRAY_EXTENDED")
		case containsAll(ov, uv):
			c.addAt("enum", "ENUM_ARRAY_NARROWED")
		default:
			c.addAt("enum", "ENUM_ARRAY_CHANGED")
		}
	case jCombined:
		jsonCompareCombined(c, o, u)
	case jNot:
		s := c.sub()
		func() {
			defer s.enter("not")()
			jsonCompare(s, u.subs[0], o.subs[0])
		}()
		if s.isCompatible() {
			c.add("NOT_TYPE_NARROWED")
		} else {
			c.add("NOT_TYPE_EXTENDED")
		}
	case jObject:
		jsonCompareObject(c, o, u)
	case jArray:
		jsonCompareArray(c, o, u)
	}
}

// jsonCompareLimit compares a numeric keyword: PREFIX_ADDED, _REMOVED, _INCREASED, _DECREASED.
func jsonCompareLimit(c *diffCtx, om, um map[string]any, kw, prefix string) {
	ov, oOK := jsonNumber(om[kw])
	uv, uOK := jsonNumber(um[kw])
	switch {
	case !oOK && !uOK:
	case !oOK:
		c.addAt(kw, prefix+"_ADDED")
	case !uOK:
		c.addAt(kw, prefix+"_REMOVED")
	default:
		switch ov.Cmp(uv) {
		case -1:
			c.addAt(kw, prefix+"_INCREASED")
		case 1:
			c.addAt(kw, prefix+"_DECREASED")
		}
	}
}

func jsonNumber(v any) (*big.Rat, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case float64:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	case int:
		s = strconv.Itoa(v)
	default:
		return nil, false
	}
	if len(s) > 400 {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func jsonCompareMultipleOf(c *diffCtx, o, u any) {
	ov, oOK := jsonNumber(o)
	uv, uOK := jsonNumber(u)
	switch {
	case !oOK && !uOK:
	case !oOK:
		c.addAt("multipleOf", "MULTIPLE_OF_ADDED")
	case !uOK:
		c.addAt("multipleOf", "MULTIPLE_OF_REMOVED")
	case ov.Cmp(uv) == 0:
	case ov.Sign() != 0 && new(big.Rat).Quo(uv, ov).IsInt():
		c.addAt("multipleOf", "MULTIPLE_OF_EXPANDED")
	case uv.Sign() != 0 && new(big.Rat).Quo(ov, uv).IsInt():
		c.addAt("multipleOf", "MULTIPLE_OF_REDUCED")
	default:
		c.addAt("multipleOf", "MULTIPLE_OF_CHANGED")
	}
}

func jsonEnumValues(m map[string]any) map[string]bool {
	out := map[string]bool{}
	if e, ok := m["enum"].([]any); ok {
		for _, v := range e {
			out[jsonCanonical(v)] = true
		}
	} else if v, ok := m["const"]; ok {
		out[jsonCanonical(v)] = true
	}
	return out
}

func jsonCanonical(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	s := strings.TrimSuffix(b.String(), "\n")
	if r, ok := jsonNumber(v); ok {
		return r.RatString() // 1 and 1.0 are one value
	}
	return s
}

func jsonEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return jsonCanonical(a) == jsonCanonical(b)
}

func equalSets(a, b map[string]bool) bool { return len(a) == len(b) && containsAll(a, b) }

func containsAll(a, b map[string]bool) bool {
	for k := range b {
		if !a[k] {
			return false
		}
	}
	return true
}

func jsonCompareCombined(c *diffCtx, o, u *jnode) {
	changed := false
	switch {
	case o.criterion == u.criterion:
	case u.criterion == "anyOf":
		c.add("COMBINED_TYPE_EXTENDED")
	case u.criterion == "oneOf" && len(o.subs) == 1:
		c.add("COMBINED_TYPE_EXTENDED")
	case u.criterion == "allOf" && len(o.subs) == 1 && len(u.subs) == 1:
		c.add("COMBINED_TYPE_EXTENDED")
	default:
		c.add("COMBINED_TYPE_CHANGED")
		changed = true
	}
	if changed {
		return
	}
	os, us := dedupJSON(o.subs), dedupJSON(u.subs)
	switch {
	case len(os) < len(us):
		if u.criterion == "allOf" {
			c.add("PRODUCT_TYPE_EXTENDED")
		} else {
			c.add("SUM_TYPE_EXTENDED")
		}
	case len(os) > len(us):
		if u.criterion == "allOf" {
			c.add("PRODUCT_TYPE_NARROWED")
		} else {
			c.add("SUM_TYPE_NARROWED")
		}
	}
	// Compatible pairs, then a maximum matching (Kuhn's augmenting paths).
	edges := make([][]int, len(os))
	diffs := map[[2]int][]difference{}
	for i, on := range os {
		func() {
			defer c.enter(o.criterion, strconv.Itoa(i))()
			for j, un := range us {
				s := c.sub()
				jsonCompare(s, on, un)
				if s.isCompatible() {
					edges[i] = append(edges[i], j)
					diffs[[2]int{i, j}] = s.diffs
				}
			}
		}()
	}
	matchU := make([]int, len(us))
	for j := range matchU {
		matchU[j] = -1
	}
	var try func(i int, seen []bool) bool
	try = func(i int, seen []bool) bool {
		for _, j := range edges[i] {
			if seen[j] {
				continue
			}
			seen[j] = true
			if matchU[j] < 0 || try(matchU[j], seen) {
				matchU[j] = i
				return true
			}
		}
		return false
	}
	matched := 0
	for i := range os {
		if try(i, make([]bool, len(us))) {
			matched++
		}
	}
	for j, i := range matchU {
		if i >= 0 {
			c.diffs = append(c.diffs, diffs[[2]int{i, j}]...)
		}
	}
	if matched < min(len(os), len(us)) {
		c.add("COMBINED_TYPE_SUBSCHEMAS_CHANGED")
	}
}

// dedupJSON drops subschemas equal (as JSON) to an earlier one.
func dedupJSON(ns []*jnode) []*jnode {
	var out []*jnode
	seen := map[string]bool{}
	for _, n := range ns {
		var k string
		if n != nil && n.m != nil {
			k = jsonCanonical(n.m)
		} else if n != nil {
			k = strconv.Itoa(int(n.kind))
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, n)
	}
	return out
}

func jsonMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func jsonRequired(m map[string]any) map[string]bool {
	out := map[string]bool{}
	if r, ok := m["required"].([]any); ok {
		for _, v := range r {
			if s, ok := v.(string); ok {
				out[s] = true
			}
		}
	}
	return out
}

func sortedKeys[V any](ms ...map[string]V) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// additional returns whether a schema permits additional members (keyword kw not false) and
// the schema they must match (nil when absent or true).
func additional(doc *jsonDoc, m map[string]any, kw string) (bool, *jnode) {
	switch v := m[kw].(type) {
	case nil:
		return true, nil
	case bool:
		return v, nil
	default:
		return true, classifyJSON(doc, v, 0)
	}
}

func jsonHasDefault(doc *jsonDoc, v any) bool {
	n := classifyJSON(doc, v, 0)
	if n == nil || n.m == nil {
		return false
	}
	_, ok := n.m["default"]
	return ok
}

func isEmptySchema(n *jnode) bool { return n != nil && n.kind == jEmpty }
func isFalseSchema(n *jnode) bool { return n != nil && n.kind == jFalse }

func jsonCompareObject(c *diffCtx, o, u *jnode) {
	oProps, uProps := jsonMap(o.m["properties"]), jsonMap(u.m["properties"])
	oReq, uReq := jsonRequired(o.m), jsonRequired(u.m)
	// required
	for _, k := range sortedKeys(oProps) {
		if _, ok := uProps[k]; !ok {
			continue
		}
		switch {
		case oReq[k] && !uReq[k]:
			c.addAt("required/"+k, "REQUIRED_ATTRIBUTE_REMOVED")
		case !oReq[k] && uReq[k]:
			if jsonHasDefault(u.doc, uProps[k]) {
				c.addAt("required/"+k, "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED")
			} else {
				c.addAt("required/"+k, "REQUIRED_ATTRIBUTE_ADDED")
			}
		}
	}
	// properties
	for _, k := range sortedKeys(oProps, uProps) {
		func() {
			defer c.enter("properties", k)()
			ov, oOK := oProps[k]
			uv, uOK := uProps[k]
			on, un := classifyJSON(o.doc, ov, 0), classifyJSON(u.doc, uv, 0)
			switch {
			case !uOK:
				if objectOpen(u) {
					c.add("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL")
				} else if p := partialObject(u, k); p != nil {
					s := c.sub()
					jsonCompare(s, on, p)
					c.diffs = append(c.diffs, s.diffs...)
					if s.isCompatible() {
						c.add("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					} else {
						c.add("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					}
				} else if isFalseSchema(on) {
					c.add("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
				} else {
					c.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL")
				}
			case !oOK:
				if objectOpen(o) {
					if isEmptySchema(un) {
						c.add("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")
					} else {
						c.add("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
					}
					return
				}
				if p := partialObject(o, k); p != nil {
					s := c.sub()
					jsonCompare(s, p, un)
					c.diffs = append(c.diffs, s.diffs...)
					if s.isCompatible() {
						c.add("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					} else {
						c.add("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					}
				}
				switch {
				case uReq[k] && jsonHasDefault(u.doc, uv):
					c.add("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL")
				case uReq[k]:
					c.add("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
				default:
					c.add("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
				}
			default:
				jsonCompare(c, on, un)
			}
		}()
	}
	// dependencies (draft-07 "dependencies", 2019+ "dependentRequired"/"dependentSchemas")
	oArr, oSch := jsonDependencies(o.m)
	uArr, uSch := jsonDependencies(u.m)
	for _, k := range sortedKeys(oArr, uArr) {
		func() {
			defer c.enter("dependencies", k)()
			ov, oOK := oArr[k]
			uv, uOK := uArr[k]
			switch {
			case !uOK:
				c.add("DEPENDENCY_ARRAY_REMOVED")
			case !oOK:
				c.add("DEPENDENCY_ARRAY_ADDED")
			case equalSets(ov, uv):
			case containsAll(uv, ov):
				c.add("DEPENDENCY_ARRAY_EXTENDED")
			case containsAll(ov, uv):
				c.add("DEPENDENCY_ARRAY_NARROWED")
			default:
				c.add("DEPENDENCY_ARRAY_CHANGED")
			}
		}()
	}
	for _, k := range sortedKeys(oSch, uSch) {
		func() {
			defer c.enter("dependencies", k)()
			ov, oOK := oSch[k]
			uv, uOK := uSch[k]
			switch {
			case !uOK:
				c.add("DEPENDENCY_SCHEMA_REMOVED")
			case !oOK:
				c.add("DEPENDENCY_SCHEMA_ADDED")
			default:
				jsonCompare(c, classifyJSON(o.doc, ov, 0), classifyJSON(u.doc, uv, 0))
			}
		}()
	}
	// additionalProperties
	func() {
		defer c.enter("additionalProperties")()
		oPermits, oSchema := additional(o.doc, o.m, "additionalProperties")
		uPermits, uSchema := additional(u.doc, u.m, "additionalProperties")
		switch {
		case oPermits != uPermits:
			if uPermits {
				c.add("ADDITIONAL_PROPERTIES_ADDED")
			} else {
				c.add("ADDITIONAL_PROPERTIES_REMOVED")
			}
		case oSchema == nil && uSchema != nil:
			c.add("ADDITIONAL_PROPERTIES_NARROWED")
		case uSchema == nil && oSchema != nil:
			c.add("ADDITIONAL_PROPERTIES_EXTENDED")
		case oSchema != nil:
			jsonCompare(c, oSchema, uSchema)
		}
	}()
	jsonCompareLimit(c, o.m, u.m, "maxProperties", "MAX_PROPERTIES")
	jsonCompareLimit(c, o.m, u.m, "minProperties", "MIN_PROPERTIES")
}

func jsonDependencies(m map[string]any) (map[string]map[string]bool, map[string]any) {
	arrs, schemas := map[string]map[string]bool{}, map[string]any{}
	add := func(deps map[string]any, arraysOnly, schemasOnly bool) {
		for k, v := range deps {
			if a, ok := v.([]any); ok && !schemasOnly {
				set := map[string]bool{}
				for _, e := range a {
					if s, ok := e.(string); ok {
						set[s] = true
					}
				}
				arrs[k] = set
			} else if !arraysOnly {
				schemas[k] = v
			}
		}
	}
	add(jsonMap(m["dependencies"]), false, false)
	add(jsonMap(m["dependentRequired"]), true, false)
	add(jsonMap(m["dependentSchemas"]), false, true)
	return arrs, schemas
}

func objectOpen(n *jnode) bool {
	if len(jsonMap(n.m["patternProperties"])) > 0 {
		return false
	}
	permits, schema := additional(n.doc, n.m, "additionalProperties")
	return permits && schema == nil
}

// partialObject is the schema a property named k must match under n's partially open content
// model (a matching patternProperties entry, else additionalProperties), or nil.
func partialObject(n *jnode, k string) *jnode {
	pats := jsonMap(n.m["patternProperties"])
	for _, p := range sortedKeys(pats) {
		re, err := regexp.Compile(p)
		if err == nil && re.MatchString(k) {
			return classifyJSON(n.doc, pats[p], 0)
		}
	}
	_, schema := additional(n.doc, n.m, "additionalProperties")
	return schema
}

// arrayParts splits an array schema into its list-validation items schema, tuple items and the
// additional-items keyword (draft-07 items/additionalItems, 2020-12 prefixItems/items).
func arrayParts(n *jnode) (all any, tuple []any, addKw string, addM map[string]any) {
	if p, ok := n.m["prefixItems"].([]any); ok {
		return nil, p, "items", n.m
	}
	if t, ok := n.m["items"].([]any); ok {
		return nil, t, "additionalItems", n.m
	}
	return n.m["items"], nil, "additionalItems", map[string]any{}
}

func arrayAdditional(n *jnode) (bool, *jnode) {
	_, _, kw, m := arrayParts(n)
	return additional(n.doc, m, kw)
}

func arrayOpen(n *jnode) bool {
	permits, schema := arrayAdditional(n)
	return permits && schema == nil
}

func jsonCompareArray(c *diffCtx, o, u *jnode) {
	oAll, oTuple, _, _ := arrayParts(o)
	uAll, uTuple, _, _ := arrayParts(u)
	func() {
		defer c.enter("items")()
		jsonCompare(c, classifyJSON(o.doc, oAll, 0), classifyJSON(u.doc, uAll, 0))
	}()
	for i := 0; i < max(len(oTuple), len(uTuple)); i++ {
		func() {
			defer c.enter("items", strconv.Itoa(i))()
			switch {
			case i < len(oTuple) && i < len(uTuple):
				jsonCompare(c, classifyJSON(o.doc, oTuple[i], 0), classifyJSON(u.doc, uTuple[i], 0))
			case i < len(oTuple): // removed
				on := classifyJSON(o.doc, oTuple[i], 0)
				if arrayOpen(u) {
					c.add("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL")
				} else if _, p := arrayAdditional(u); p != nil {
					s := c.sub()
					jsonCompare(s, on, p)
					c.diffs = append(c.diffs, s.diffs...)
					if s.isCompatible() {
						c.add("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					} else {
						c.add("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					}
				} else if isFalseSchema(on) {
					c.add("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
				} else {
					c.add("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL")
				}
			default: // added
				un := classifyJSON(u.doc, uTuple[i], 0)
				if arrayOpen(o) {
					if isEmptySchema(un) {
						c.add("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")
					} else {
						c.add("ITEM_ADDED_TO_OPEN_CONTENT_MODEL")
					}
				} else if _, p := arrayAdditional(o); p != nil {
					s := c.sub()
					jsonCompare(s, p, un)
					c.diffs = append(c.diffs, s.diffs...)
					if s.isCompatible() {
						c.add("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					} else {
						c.add("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
					}
				} else {
					c.add("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL")
				}
			}
		}()
	}
	if len(oTuple) > 0 || len(uTuple) > 0 {
		func() {
			defer c.enter("additionalItems")()
			oPermits, oSchema := arrayAdditional(o)
			uPermits, uSchema := arrayAdditional(u)
			switch {
			case oPermits != uPermits:
				if oPermits {
					c.add("ADDITIONAL_ITEMS_REMOVED")
				} else {
					c.add("ADDITIONAL_ITEMS_ADDED")
				}
			case oSchema == nil && uSchema != nil:
				c.add("ADDITIONAL_ITEMS_NARROWED")
			case uSchema == nil && oSchema != nil:
				c.add("ADDITIONAL_ITEMS_EXTENDED")
			case oSchema != nil:
				jsonCompare(c, oSchema, uSchema)
			}
		}()
	}
	jsonCompareLimit(c, o.m, u.m, "maxItems", "MAX_ITEMS")
	jsonCompareLimit(c, o.m, u.m, "minItems", "MIN_ITEMS")
	ou, _ := o.m["uniqueItems"].(bool)
	uu, _ := u.m["uniqueItems"].(bool)
	if ou != uu {
		if ou {
			c.addAt("uniqueItems", "UNIQUE_ITEMS_REMOVED")
		} else {
			c.addAt("uniqueItems", "UNIQUE_ITEMS_ADDED")
		}
	}
}

// describeJSONDifference is Confluent's description of a JSON Schema difference, with {update}
// and {original} standing for the schemas' roles ("new" / "old").
func describeJSONDifference(d difference) string {
	p := d.path
	t := d.typ
	switch {
	case strings.HasSuffix(t, "_ADDED") && (strings.HasPrefix(t, "MAX") || strings.HasPrefix(t, "MIN") || strings.HasPrefix(t, "EXCLUSIVE") ||
		strings.HasPrefix(t, "MULTIPLE_OF") || strings.HasPrefix(t, "PATTERN") || t == "REQUIRED_ATTRIBUTE_ADDED" ||
		strings.HasPrefix(t, "DEPENDENCY") || t == "UNIQUE_ITEMS_ADDED"),
		t == "ADDITIONAL_ITEMS_REMOVED", t == "ADDITIONAL_PROPERTIES_REMOVED":
		return "The keyword at path '" + p + "' in the {update} schema is not present in the {original} schema"
	case t == "MIN_LENGTH_INCREASED", t == "MINIMUM_INCREASED", t == "EXCLUSIVE_MINIMUM_INCREASED", t == "MIN_PROPERTIES_INCREASED",
		t == "MULTIPLE_OF_EXPANDED", t == "MIN_ITEMS_INCREASED":
		return "The value at path '" + p + "' in the {update} schema is more than its value in the {original} schema"
	case t == "MAX_LENGTH_DECREASED", t == "MAXIMUM_DECREASED", t == "MAX_ITEMS_DECREASED", t == "EXCLUSIVE_MAXIMUM_DECREASED",
		t == "MAX_PROPERTIES_DECREASED":
		return "The value at path '" + p + "' in the {update} schema is less than its value in the {original} schema"
	case t == "PATTERN_CHANGED", t == "MULTIPLE_OF_CHANGED", t == "DEPENDENCY_ARRAY_CHANGED":
		return "The value at path '" + p + "' is different between the {update} and {original} schema"
	case t == "ADDITIONAL_ITEMS_NARROWED", t == "ENUM_ARRAY_NARROWED", t == "SUM_TYPE_NARROWED", t == "ADDITIONAL_PROPERTIES_NARROWED":
		return "An array or combined type at path '" + p + "' has fewer elements in the {update} schema than the {original} schema"
	case t == "DEPENDENCY_ARRAY_EXTENDED", t == "PRODUCT_TYPE_EXTENDED", t == "NOT_TYPE_EXTENDED":
		return "An array or combined type at path '" + p + "' has more elements in the {update} schema than the {original} schema"
	case t == "TYPE_CHANGED", t == "TYPE_NARROWED", t == "COMBINED_TYPE_CHANGED", t == "COMBINED_TYPE_SUBSCHEMAS_CHANGED", t == "ENUM_ARRAY_CHANGED":
		return "A type at path '" + p + "' is different between the {update} schema and the {original} schema"
	case t == "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", t == "ITEM_ADDED_TO_OPEN_CONTENT_MODEL":
		return "The {update} schema has an open content model and has a property or item at path '" + p + "' which is missing in the {original} schema"
	case t == "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL":
		return "The {update} schema has an unopen content model and has a required property at path '" + p + "' which is missing in the {original} schema"
	case t == "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", t == "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL":
		return "The {update} schema has a closed content model and is missing a property or item present at path '" + p + "' in the {original} schema"
	case t == "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", t == "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
		return "A property or item is missing in the {update} schema but present at path '" + p + "' in the {original} schema and is not covered by its partially open content model"
	case t == "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", t == "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
		return "The {update} schema has a property or item at path '" + p + "' which is missing in the {original} schema and is not covered by its partially open content model"
	case t == "SCHEMA_ADDED":
		return "A schema at path '" + p + "' is present in the {update} schema but not in the {original} schema"
	case t == "SCHEMA_TOO_COMPLEX_TO_COMPARE":
		return "The schemas are too complex to compare; the registry stopped after " + strconv.Itoa(maxComparisons) + " comparisons"
	}
	return "A change at path '" + p + "' between the {original} schema and the {update} schema is incompatible"
}
