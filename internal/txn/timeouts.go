package txn

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AbortTimedOut aborts every ongoing transaction that started more than its timeout ago and is
// not in the middle of a transition (Kafka's abortTimedOutTransactions): the epoch is bumped, so
// the producer that ran it is fenced (its next produce gets INVALID_PRODUCER_EPOCH), and the
// abort markers are written. Run calls it every AbortTimedOutInterval.
func (c *Coordinator) AbortTimedOut() {
	c.lock()
	defer c.unlock()
	if c.core.ClosedLocked() {
		return
	}
	now := c.nowMs()
	for _, t := range c.sortedLocked() {
		if t.state != Ongoing || t.busy() || t.startMs+int64(t.timeoutMs) >= now {
			continue
		}
		c.log.Info("aborting transaction past its timeout", "transactional_id", t.id, "producer_id", t.pid,
			"epoch", t.epoch, "timeout_ms", t.timeoutMs, "age_ms", now-t.startMs)
		id := t.id
		c.fenceAndAbortLocked(t, func(err error) {
			if err != nil {
				c.log.Warn("cannot abort timed-out transaction; will retry", "transactional_id", id, "err", err)
			}
		})
	}
}

// ExpireTransactionalIDs forgets every transactional id that has no transaction in progress
// and was last used IDExpiration ago: a tombstone is written, and once it is durable the id is
// gone (its next InitProducerId gets a new producer id). Run calls it every
// RemoveExpiredInterval.
func (c *Coordinator) ExpireTransactionalIDs() {
	c.lock()
	defer c.unlock()
	if c.core.ClosedLocked() {
		return
	}
	now := c.nowMs()
	limit := c.cfg.IDExpiration.Milliseconds()
	for _, t := range c.sortedLocked() {
		switch t.state {
		case Empty, CompleteCommit, CompleteAbort:
		default:
			continue
		}
		if t.busy() || len(t.waiters) > 0 || now-t.updateMs < limit {
			continue
		}
		c.log.Info("expiring idle transactional id", "transactional_id", t.id, "producer_id", t.pid)
		next := t.meta
		next.state, next.parts = Dead, nil
		id := t.id
		c.persistLocked(t, next, func(err error) {
			if err != nil {
				c.log.Warn("cannot expire transactional id", "transactional_id", id, "err", err)
			}
		})
	}
}

// DescribeTransactions (key 65), version 0: for each transactional id its producer id and
// epoch, state, timeout, start time and partitions; an unknown (or expiring) id is
// TRANSACTIONAL_ID_NOT_FOUND, an empty one INVALID_REQUEST.
func (c *Coordinator) describeTransactionsLocked(req *kmsg.DescribeTransactionsRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id
		t := c.mu.txns[id]
		_, code := c.core.CheckLocked(id)
		switch {
		case id == "":
			s.ErrorCode = kerr.InvalidRequest.Code
		case code != 0:
			s.ErrorCode = code
		case t == nil || (t.pending != nil && t.pending.state == Dead):
			s.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			s.State = t.state.String()
			s.TimeoutMillis = t.timeoutMs
			s.StartTimestamp = t.startMs
			s.ProducerID = t.pid
			s.ProducerEpoch = t.epoch
			for _, tp := range t.parts {
				if n := len(s.Topics); n == 0 || s.Topics[n-1].Topic != tp.Topic {
					s.Topics = append(s.Topics, kmsg.DescribeTransactionsResponseTransactionStateTopic{Topic: tp.Topic})
				}
				st := &s.Topics[len(s.Topics)-1]
				st.Partitions = append(st.Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	c.replyLocked(respond, resp)
}

// ListTransactions (key 66), versions 0-1: every transactional id with its producer id and
// state, filtered by state names (unknown names are echoed in UnknownStateFilters and match
// nothing), by producer ids, and (v1, KIP-994) by running for at least DurationFilterMillis.
func (c *Coordinator) listTransactionsLocked(req *kmsg.ListTransactionsRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[State]bool{}
	for _, name := range req.StateFilters {
		if s, ok := parseState(name); ok {
			states[s] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		c.replyLocked(respond, resp)
		return
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	now := c.nowMs()
	for _, t := range c.sortedLocked() {
		if len(states) > 0 && !states[t.state] {
			continue
		}
		if len(pids) > 0 && !pids[t.pid] {
			continue
		}
		if req.Version >= 1 && req.DurationFilterMillis >= 0 && now-t.startMs < req.DurationFilterMillis {
			continue
		}
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = t.id, t.pid, t.state.String()
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	c.replyLocked(respond, resp)
}
