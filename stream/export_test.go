package stream

// DisableSlices makes sliding-window aggregations of p use the general per-window path, so
// tests can compare it with the sliced path.
func DisableSlices(p *Pipeline) { p.noSlices = true }
