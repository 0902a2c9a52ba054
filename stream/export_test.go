package stream

// DisableSlices makes sliding-window aggregations of p use the general per-window path, so
// tests can compare it with the sliced path.
func DisableSlices(p *Pipeline) { p.noSlices = true }

// KeyedRetained returns the number of per-key entries (key states, pending deletes, timers
// and timer heap entries) the ProcessKeyed transform named name holds in memory.
func KeyedRetained(ex *Executor, name string) int {
	n, ok := ex.p.names[name]
	if !ok {
		return -1
	}
	r, ok := ex.ops[n.id].(interface{ retained() int })
	if !ok {
		return -1
	}
	return r.retained()
}
