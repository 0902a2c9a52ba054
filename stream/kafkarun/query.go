package kafkarun

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
)

// ErrNotLocal is returned (wrapped in a *NotLocalError) by Lookup for a key whose task this
// instance does not run.
var ErrNotLocal = errors.New("kafkarun: key is not held by this instance")

// NotLocalError says which task holds a key and, when known, the ApplicationServer of the
// instance that runs it (Kafka Streams' KeyQueryMetadata).
type NotLocalError struct {
	Task  int32
	Owner string // "" when unknown: no instance advertises an endpoint, or a rebalance is moving the task
}

func (e *NotLocalError) Error() string {
	if e.Owner == "" {
		return fmt.Sprintf("kafkarun: key belongs to task %d, not run by this instance", e.Task)
	}
	return fmt.Sprintf("kafkarun: key belongs to task %d, run by %s", e.Task, e.Owner)
}

func (e *NotLocalError) Unwrap() error { return ErrNotLocal }

// ErrNotRunning is returned by Lookup before Run has set the application up.
var ErrNotRunning = errors.New("kafkarun: app is not running")

// TaskOf returns the task (partition) that holds key bytes k: murmur2(k) mod the number of
// tasks, as Kafka's default partitioner places keyed records. It fails before Run has read
// the input topics.
func (a *App) TaskOf(k []byte) (int32, error) {
	if a.ntasks == 0 {
		return 0, ErrNotRunning
	}
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: k}, int(a.ntasks))), nil
}

// Owner returns the ApplicationServer of the instance running task t, as of the latest
// rebalance ("" if unknown).
func (a *App) Owner(t int32) string { return a.bal.owner(t) }

// Lookup reads the current value of key in table t from the running application: the
// interactive query of Kafka Streams. The key is placed like a keyed input record (its
// encoding with stream.CoderFor[K], hashed as by Kafka's default partitioner); use
// LookupWith when the table's topic keys use another coder.
//
// For a key held by this instance it returns the value and whether the key is present. For
// a key of a task another instance runs (or that is being restored or moved) it returns a
// *NotLocalError (errors.Is(err, ErrNotLocal)) naming the task and, when known, the owner's
// ApplicationServer, which the caller can ask instead. Lookup is safe to call concurrently
// with processing; it waits for the task's current batch.
func Lookup[K comparable, V any](a *App, t stream.Table[K, V], key K) (V, bool, error) {
	return LookupWith(a, t, key, stream.CoderFor[K]())
}

// LookupWith is Lookup with the key coder of the table's input topic.
func LookupWith[K comparable, V any](a *App, t stream.Table[K, V], key K, kc stream.Coder[K]) (V, bool, error) {
	var zero V
	kb, err := kc.Encode(key)
	if err != nil {
		return zero, false, fmt.Errorf("kafkarun: lookup: encode key: %w", err)
	}
	id, err := a.TaskOf(kb)
	if err != nil {
		return zero, false, err
	}
	a.mu.Lock()
	tk := a.tasks[id]
	a.mu.Unlock()
	if tk == nil {
		return zero, false, &NotLocalError{Task: id, Owner: a.Owner(id)}
	}
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if tk.ex == nil {
		return zero, false, &NotLocalError{Task: id, Owner: a.Owner(id)}
	}
	return stream.Lookup(tk.ex, t, key)
}

// StandbyEndpoints returns the ApplicationServers of the instances keeping standby copies
// of task t (Config.Standbys), as of the latest rebalance.
func (a *App) StandbyEndpoints(t int32) []string { return a.bal.standbyEndpoints(t) }

// LookupStandby reads key's value in table t from this instance's standby copy of the key's
// task (Config.Standbys): the value as of the last commit the standby applied, possibly
// behind the active task. It returns a *NotLocalError when this instance keeps no standby of
// that task.
func LookupStandby[K comparable, V any](a *App, t stream.Table[K, V], key K, kc stream.Coder[K]) (V, bool, error) {
	var zero V
	kb, err := kc.Encode(key)
	if err != nil {
		return zero, false, fmt.Errorf("kafkarun: lookup: encode key: %w", err)
	}
	id, err := a.TaskOf(kb)
	if err != nil {
		return zero, false, err
	}
	var v V
	var found bool
	ok, err := a.standby.read(id, func(st stream.Store) error {
		var err error
		v, found, err = stream.LookupStored(st, t, key)
		return err
	})
	if !ok {
		return zero, false, &NotLocalError{Task: id, Owner: a.Owner(id)}
	}
	return v, found, err
}
