package security

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// The client quota keys Samsa enforces (Kafka's names).
const (
	ProducerByteRate  = "producer_byte_rate"
	ConsumerByteRate  = "consumer_byte_rate"
	RequestPercentage = "request_percentage"
)

// QuotaEntity names who a quota applies to, as DescribeClientQuotas/AlterClientQuotas do: a
// user component, a client-id component or both. A component is either a name or the default
// entity of its type (the quota of every user / client id without a more specific one).
type QuotaEntity struct {
	User            string `json:"user,omitempty"`
	UserSet         bool   `json:"user_set,omitempty"`
	UserDefault     bool   `json:"user_default,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	ClientIDSet     bool   `json:"client_id_set,omitempty"`
	ClientIDDefault bool   `json:"client_id_default,omitempty"`
}

func (e QuotaEntity) String() string {
	s := ""
	if e.UserSet {
		if e.UserDefault {
			s = "user=<default>"
		} else {
			s = "user=" + e.User
		}
	}
	if e.ClientIDSet {
		if s != "" {
			s += ","
		}
		if e.ClientIDDefault {
			s += "client-id=<default>"
		} else {
			s += "client-id=" + e.ClientID
		}
	}
	return s
}

// QuotaEntry is the quota values set for one entity.
type QuotaEntry struct {
	Entity QuotaEntity        `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// ErrInvalidQuota is returned for an unknown quota key, a non-positive value or an entity
// Samsa does not enforce (ip).
var ErrInvalidQuota = errors.New("invalid client quota")

// ValidateQuota checks one key and value of AlterClientQuotas.
func ValidateQuota(e QuotaEntity, key string, value float64) error {
	if !e.UserSet && !e.ClientIDSet {
		return fmt.Errorf("%w: the entity needs a user or client-id", ErrInvalidQuota)
	}
	switch key {
	case ProducerByteRate, ConsumerByteRate, RequestPercentage:
	default:
		return fmt.Errorf("%w: %q is not a quota Samsa enforces (producer_byte_rate, consumer_byte_rate, request_percentage)", ErrInvalidQuota, key)
	}
	if value <= 0 {
		return fmt.Errorf("%w: %s must be positive", ErrInvalidQuota, key)
	}
	return nil
}

// quotaTable is an immutable lookup of quota values by entity.
type quotaTable map[QuotaEntity]map[string]float64

// lookup finds the quota for key of (user, clientID) in Kafka's order of precedence, most
// specific first:
//
//	user+client-id, user+default client-id, user,
//	default user+client-id, default user+default client-id, default user,
//	client-id, default client-id
//
// It returns the bound and the sensor key (who shares the bucket: the user and/or client id
// of the entity that matched, a default component standing for the actual name).
func (t quotaTable) lookup(key, user, clientID string) (float64, sensorKey, bool) {
	if len(t) == 0 {
		return 0, sensorKey{}, false
	}
	cands := [8]QuotaEntity{
		{User: user, UserSet: true, ClientID: clientID, ClientIDSet: true},
		{User: user, UserSet: true, ClientIDSet: true, ClientIDDefault: true},
		{User: user, UserSet: true},
		{UserSet: true, UserDefault: true, ClientID: clientID, ClientIDSet: true},
		{UserSet: true, UserDefault: true, ClientIDSet: true, ClientIDDefault: true},
		{UserSet: true, UserDefault: true},
		{ClientID: clientID, ClientIDSet: true},
		{ClientIDSet: true, ClientIDDefault: true},
	}
	for _, e := range cands {
		if v, ok := t[e][key]; ok {
			k := sensorKey{kind: key}
			if e.UserSet {
				k.user, k.hasUser = user, true
			}
			if e.ClientIDSet {
				k.client, k.hasClient = clientID, true
			}
			return v, k, true
		}
	}
	return 0, sensorKey{}, false
}

type sensorKey struct {
	kind               string
	user, client       string
	hasUser, hasClient bool
}

// QuotaConfig sets Kafka's quota sampling: quota.window.num samples of
// quota.window.size.seconds each.
type QuotaConfig struct {
	Samples int           // 0 → 11
	Window  time.Duration // 0 → 1s
}

// rate is Kafka's sampled Rate: values recorded into Samples windows of Window; the rate is
// the sum of the live samples over the time they span, never less than Samples-1 windows (so
// a burst after idleness is measured over a full period, as Kafka does).
type rate struct {
	mu      sync.Mutex
	samples []sample
	cur     int
}

type sample struct {
	start time.Time
	v     float64
}

func (r *rate) record(cfg QuotaConfig, now time.Time, v float64) {
	s := &r.samples[r.cur]
	if s.start.IsZero() || now.Sub(s.start) >= cfg.Window {
		r.cur = (r.cur + 1) % len(r.samples)
		s = &r.samples[r.cur]
		s.start, s.v = now, 0
	}
	s.v += v
}

// value returns the rate per second at now.
func (r *rate) value(cfg QuotaConfig, now time.Time) (perSec float64, windowMs float64) {
	var total float64
	oldest := now
	maxAge := time.Duration(len(r.samples)) * cfg.Window
	for i := range r.samples {
		s := &r.samples[i]
		if s.start.IsZero() {
			continue
		}
		if now.Sub(s.start) >= maxAge {
			s.start, s.v = time.Time{}, 0
			continue
		}
		total += s.v
		if s.start.Before(oldest) {
			oldest = s.start
		}
	}
	elapsed := now.Sub(oldest)
	minElapsed := time.Duration(len(r.samples)-1) * cfg.Window
	if elapsed < minElapsed {
		elapsed = minElapsed
	}
	return total / elapsed.Seconds(), float64(elapsed.Milliseconds())
}

// quotaManager holds the rate sensors of the entities with quotas.
type quotaManager struct {
	cfg     QuotaConfig
	sensors sync.Map // sensorKey → *rate
}

// record adds v to the entity's sensor and returns how long to throttle: zero within the
// quota, else Kafka's (observed − bound) / bound × window, capped at the full sample period.
func (m *quotaManager) record(k sensorKey, bound float64, v float64, now time.Time) time.Duration {
	x, ok := m.sensors.Load(k)
	if !ok {
		x, _ = m.sensors.LoadOrStore(k, &rate{samples: make([]sample, m.cfg.Samples)})
	}
	r := x.(*rate)
	r.mu.Lock()
	r.record(m.cfg, now, v)
	observed, windowMs := r.value(m.cfg, now)
	r.mu.Unlock()
	if observed <= bound {
		return 0
	}
	ms := (observed - bound) / bound * windowMs
	maxMs := float64((time.Duration(m.cfg.Samples) * m.cfg.Window).Milliseconds())
	if ms > maxMs {
		ms = maxMs
	}
	return time.Duration(ms * float64(time.Millisecond))
}
