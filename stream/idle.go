package stream

// Idle reports whether every input of the named transform is idle: its sources have had no
// input for their IdleTimeout (or were declared idle), so it holds no watermark back. A
// runner that forwards an exchange's watermark to other tasks (Exchange.Watermark) forwards
// its idleness too, so that receivers leave idle senders out of their minimum. It reports
// false for an unknown name.
func (ex *Executor) Idle(name string) bool {
	if n, ok := ex.p.names[name]; ok {
		return ex.idle[n.id]
	}
	return false
}
