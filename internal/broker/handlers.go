package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler serves one request; it must call r.respond exactly once (possibly later).
type handler func(b *Broker, r *request)

// handlers maps an API key to its handler. Each handler file registers itself in init with the
// minimum version it serves; the maximum comes from the advertised Kafka release (wire.Release).
var (
	handlers = map[int16]handler{}
	minVers  = map[int16]int16{}
)

func register(key kmsg.Key, min int16, h handler) {
	handlers[key.Int16()] = h
	minVers[key.Int16()] = min
}

func servedKeys() map[int16]int16 {
	m := make(map[int16]int16, len(minVers))
	for k, v := range minVers {
		m[k] = v
	}
	return m
}

// Versions returns the served API version table (for tests and the console).
func (b *Broker) Versions() map[int16][2]int16 {
	m := map[int16][2]int16{}
	for k := range handlers {
		if r, ok := b.versions.Lookup(k); ok {
			m[k] = [2]int16{r.Min, r.Max}
		}
	}
	return m
}
