package registry

import (
	"fmt"
	"strings"
)

// JSON Schema and Protobuf compatibility is decided the way Confluent's registry decides it: a
// diff between an original schema (the writer's) and an update (the reader's) lists typed
// differences, each either compatible or not, and the update can read data written with the
// original when every difference is compatible. BACKWARD checks diff(old, new), FORWARD
// diff(new, old), FULL both. The difference types are Confluent's (its
// io.confluent.kafka.schemaregistry.{json,protobuf}.diff.Difference.Type names) so that the
// messages a client sees with ?verbose=true name the same errors.

// difference is one change found between two schemas.
type difference struct {
	typ  string // Confluent's Difference.Type name
	path string // JSON pointer-like location: #/properties/a, #/Order/2
}

// diffCtx collects differences while walking two schemas.
type diffCtx struct {
	compatible map[string]bool // the difference types that keep the update compatible
	path       []string
	diffs      []difference
	seen       map[[2]any]bool // pairs already being compared (recursive schemas)
	budget     *int            // comparisons left; a hostile schema cannot make the check run away
	newer      bool            // the update is the newer version (Protobuf's reserved rules)
}

// maxComparisons bounds the work of one diff.
const maxComparisons = 200_000

func newDiffCtx(compatible map[string]bool) *diffCtx {
	n := maxComparisons
	return &diffCtx{compatible: compatible, seen: map[[2]any]bool{}, budget: &n}
}

// sub is a context for a trial comparison: the same path, seen pairs and budget, its own list.
func (c *diffCtx) sub() *diffCtx {
	return &diffCtx{compatible: c.compatible, path: append([]string(nil), c.path...), seen: c.seen, budget: c.budget, newer: c.newer}
}

func (c *diffCtx) enter(elems ...string) func() {
	n := len(c.path)
	c.path = append(c.path, elems...)
	return func() { c.path = c.path[:n] }
}

func (c *diffCtx) add(typ string) {
	c.diffs = append(c.diffs, difference{typ: typ, path: "#/" + strings.Join(c.path, "/")})
}

func (c *diffCtx) addAt(elem, typ string) {
	defer c.enter(elem)()
	c.add(typ)
}

// spend takes one comparison from the budget and reports whether any was left.
func (c *diffCtx) spend() bool {
	if *c.budget <= 0 {
		return false
	}
	*c.budget--
	if *c.budget == 0 {
		c.diffs = append(c.diffs, difference{typ: "SCHEMA_TOO_COMPLEX_TO_COMPARE", path: "#/"})
	}
	return true
}

func (c *diffCtx) isCompatible() bool {
	for _, d := range c.diffs {
		if !c.compatible[d.typ] {
			return false
		}
	}
	return true
}

func (c *diffCtx) incompatible() []difference {
	var out []difference
	seen := map[difference]bool{}
	for _, d := range c.diffs {
		if !c.compatible[d.typ] && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// formatDifference renders d as Confluent does, {errorType:"T", description:"..."}, with the
// update called updateName ("new" or "old") and the original originalName.
func formatDifference(d difference, describe func(difference) string, updateName, originalName string) string {
	desc := describe(d)
	desc = strings.ReplaceAll(desc, "{update}", updateName)
	desc = strings.ReplaceAll(desc, "{original}", originalName)
	return fmt.Sprintf("{errorType:%q, description:%q}", d.typ, desc)
}
