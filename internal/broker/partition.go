package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/samsa-streaming/samsa/internal/commitlog"
	replica "github.com/samsa-streaming/samsa/internal/partition"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// partition is one topic partition on this node: a replica (internal/partition: log, producer
// state, transaction state, LSO, high watermark) and where it belongs.
type partition struct {
	*replica.Partition
	topic *topic
	index int32
	// log is the replica's log (Partition.Log), for the coordinators' loading scans.
	log *commitlog.Log
	// rs is the replication state in cluster mode (replica.go), set at open; nil on a single
	// node.
	rs *replState
}

// Sentinels of the producer state, under the names the coordinators' stores use.
var (
	errInvalidEpoch    = replica.ErrInvalidProducerEpoch
	errInvalidTxnState = replica.ErrInvalidTxnState
)

// openPartition opens (recovering) the partition's replica.
func (b *Broker) openPartition(t *topic, index int32) (*partition, error) {
	logger := b.log.With("topic", t.name, "partition", index)
	rp, err := replica.Open(replica.Config{
		Dir:                  b.partitionDir(t.name, index),
		Log:                  b.logConfig(t.settings.Load()),
		ProducerIDExpiration: time.Duration(b.cfg.Settings.ProducerIDExpirationMs) * time.Millisecond,
		Logger:               logger,
		Now:                  b.now,
		OnSync:               b.cfg.Metrics.ObserveFsync,
		FS:                   b.cfg.FS,
	})
	if err != nil {
		return nil, err
	}
	p := &partition{Partition: rp, topic: t, index: index, log: rp.Log()}
	if b.cl != nil {
		p.rs = b.cl.newReplState(p)
	}
	return p, nil
}

func (p *partition) close() error { return p.Close() }

func (p *partition) removeFiles(suffix string) error { return p.Remove(suffix) }

// appendRecordsDurable writes n key/value records (kv(i) gives record i) that the broker
// itself produces (group and transaction state) as one batch, transactional for producer pid
// when pid >= 0, and waits until the batch is committed. Errors are AppendRecords' and
// WaitCommitted's.
func (p *partition) appendRecordsDurable(ctx context.Context, nowMs, pid int64, epoch int16, n int, kv func(i int) (key, value []byte)) error {
	end, err := p.AppendRecords(nowMs, pid, epoch, n, kv)
	if err != nil {
		return err
	}
	return p.waitCommitted(ctx, end)
}

// appendMarker appends a transaction marker (see replica.Partition.AppendMarker); a fenced
// marker's error also wraps txn.ErrMarkerFenced, which the transaction coordinator looks for.
func (p *partition) appendMarker(pid int64, epoch int16, commit bool, coordEpoch int32, ts int64) (int64, error) {
	end, err := p.AppendMarker(pid, epoch, commit, coordEpoch, ts)
	if errors.Is(err, replica.ErrMarkerFenced) {
		err = fmt.Errorf("%w: %w", txn.ErrMarkerFenced, err)
	}
	return end, err
}

// marker is a transaction marker as groups.go reads it from __consumer_offsets.
type marker struct {
	abort      bool
	coordEpoch int32
}

// parseMarker reads the marker of a transactional control batch (replica.ParseMarker).
func parseMarker(batch []byte) (marker, bool) {
	abort, epoch, ok := replica.ParseMarker(batch)
	return marker{abort: abort, coordEpoch: epoch}, ok
}

func sortTopics(ts []*topic) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
}

func removeAllIfExists(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return os.RemoveAll(dir)
}
