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

// QuotaConfig sets the quota sampling with Kafka's settings: quota.window.num samples of
// quota.window.size.seconds each. The window is the burst a client may send at once; samples ×
// window bounds one throttle.
type QuotaConfig struct {
	Samples int           // 0 → 11
	Window  time.Duration // 0 → 1s
}

// bucket is one entity's token bucket (in the form of a theoretical arrival time, GCRA): each
// recorded value moves tat forward by value/quota; the client is within its quota while tat
// is at most one window ahead of now, and is otherwise throttled until it is again.
//
// Kafka's byte-rate quotas measure a sampled rate over the last samples × window and throttle
// by (rate − quota) / quota × window. Measured here with a producer sending as fast as it may,
// that estimator lets a burst through each time a full sample leaves the window, and holds the
// producer to 0.76–0.86 of its quota depending on the phase; the token bucket Kafka adopted
// for controller mutation quotas (KIP-599) holds it to the quota within a few percent, with
// the same settings, the same throttle_time_ms and the same channel muting.
type bucket struct {
	mu  sync.Mutex
	tat time.Time
}

// quotaManager holds the buckets of the entities with quotas.
type quotaManager struct {
	cfg     QuotaConfig
	sensors sync.Map // sensorKey → *bucket
}

// record adds v to the entity's bucket and returns how long to throttle: zero within the
// quota (and its one-window burst), else the time until the bucket has room again, capped at
// samples × window.
func (m *quotaManager) record(k sensorKey, bound float64, v float64, now time.Time) time.Duration {
	x, ok := m.sensors.Load(k)
	if !ok {
		x, _ = m.sensors.LoadOrStore(k, &bucket{})
	}
	b := x.(*bucket)
	b.mu.Lock()
	if b.tat.Before(now) {
		b.tat = now
	}
	b.tat = b.tat.Add(time.Duration(v / bound * float64(time.Second)))
	ahead := b.tat.Sub(now)
	b.mu.Unlock()
	d := ahead - m.cfg.Window
	if d <= 0 {
		return 0
	}
	return min(d, time.Duration(m.cfg.Samples)*m.cfg.Window)
}
