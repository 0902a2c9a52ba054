package txn

import (
	"errors"
)

// Completing a decided transaction (Kafka's TransactionMarkerChannelManager): once PrepareCommit
// or PrepareAbort is durable, the markers are written to every partition of the transaction
// through the MarkerWriter, partitions that fail with a retriable error are tried again after
// RetryBackoff, and then CompleteCommit or CompleteAbort is written (again after RetryBackoff
// if that write fails). Close abandons the work, and so does an unload of the transaction's
// partition; the next Load (or Start) redoes it. Markers carry the coordinator epoch: the epoch
// the __transaction_state partition was loaded under (its leader epoch), as in Kafka.

// startCompleteLocked starts writing the markers of t, which is PrepareCommit or PrepareAbort
// and of a Loaded partition.
func (c *Coordinator) startCompleteLocked(t *txn) {
	t.completing = true
	term, _ := c.core.TermLocked(t.partition)
	m := Marker{
		ProducerID:       t.pid,
		ProducerEpoch:    t.epoch,
		Commit:           t.state == PrepareCommit,
		CoordinatorEpoch: term.Epoch,
		Partitions:       t.parts,
	}
	c.spawn(func() { c.writeMarkers(t, m) })
}

// writeMarkers writes m until every partition has it, then records the completion.
func (c *Coordinator) writeMarkers(t *txn, m Marker) {
	remaining := m.Partitions
	for len(remaining) > 0 {
		if !c.live(t) { // unloaded (the next coordinator of its partition writes them) or closed
			return
		}
		mm := m
		mm.Partitions = remaining
		errs := c.markers.WriteMarkers(c.ctx, mm)
		var retry []TopicPartition
		for i, tp := range remaining {
			var err error
			if i < len(errs) {
				err = errs[i]
			} else {
				err = errors.New("txn: MarkerWriter returned too few results")
			}
			switch {
			case err == nil:
			case errors.Is(err, ErrPartitionGone), errors.Is(err, ErrMarkerFenced):
				c.log.Info("transaction marker not written", "transactional_id", t.id, "topic", tp.Topic,
					"partition", tp.Partition, "reason", err)
			default:
				if c.ctx.Err() != nil {
					return
				}
				c.log.Warn("cannot write transaction marker; will retry", "transactional_id", t.id,
					"topic", tp.Topic, "partition", tp.Partition, "err", err)
				retry = append(retry, tp)
			}
		}
		remaining = retry
		if len(remaining) > 0 && !c.sleep(c.cfg.RetryBackoff) {
			return
		}
	}
	c.lock()
	defer c.unlock()
	if !c.liveLocked(t) {
		return
	}
	c.finishCompleteLocked(t)
}

// live reports whether t is still the coordinator's state of its id (liveLocked).
func (c *Coordinator) live(t *txn) bool {
	c.lock()
	defer c.unlock()
	return c.liveLocked(t)
}

// finishCompleteLocked records that t's markers are all written.
func (c *Coordinator) finishCompleteLocked(t *txn) {
	next := t.meta
	next.state = CompleteAbort
	if t.state == PrepareCommit {
		next.state = CompleteCommit
	}
	next.parts, next.updateMs = nil, c.nowMs()
	c.persistLocked(t, next, func(err error) {
		if err != nil {
			c.spawn(func() {
				if !c.sleep(c.cfg.RetryBackoff) {
					return
				}
				c.lock()
				defer c.unlock()
				if c.liveLocked(t) {
					c.finishCompleteLocked(t)
				}
			})
			return
		}
		t.completing = false
		c.log.Debug("transaction completed", "transactional_id", t.id, "producer_id", t.pid, "epoch", t.epoch, "state", t.state)
	})
}
