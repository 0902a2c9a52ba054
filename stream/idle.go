package stream

import "fmt"

// ExchangeInputIdle reports whether the sending side of the named remote exchange is idle in
// this executor: every input of the exchange is idle (its sources have had no input for
// their IdleTimeout), so this task holds no watermark back. A runner that forwards the
// exchange's watermark to other tasks (Exchange.Watermark) forwards this too, and the
// receiving tasks report it with SetExchangeIdle. It is false for an unknown or local
// exchange.
func (ex *Executor) ExchangeInputIdle(exchange string) bool {
	if rt := ex.exchangeRT(exchange); rt != nil {
		return rt.inIdle
	}
	return false
}

// SetExchangeIdle marks the receiving side of a remote exchange idle (every sending task is
// idle: downstream operators leave it out of their input watermark, as they do with an idle
// source) or active again, and propagates.
func (ex *Executor) SetExchangeIdle(exchange string, idle bool) error {
	if ex.err != nil {
		return ex.err
	}
	rt := ex.exchangeRT(exchange)
	if rt == nil {
		return fmt.Errorf("stream: no remote exchange named %q", exchange)
	}
	rt.idle = idle
	ex.propagate()
	return ex.err
}
