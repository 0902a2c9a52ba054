package group

// Offset retention (Kafka's offsets.retention.minutes, KIP-211), checked every
// OffsetsRetentionCheckInterval:
//
//   - a group without protocol type (offsets only): an offset expires
//     OffsetsRetention after its commit;
//   - an Empty group: every offset expires OffsetsRetention after the group
//     became Empty (after its commit if that time is unknown);
//   - a Stable "consumer" group whose subscriptions are known: offsets of
//     topics nobody subscribes to expire OffsetsRetention after their commit;
//   - otherwise nothing expires.
//
// An offset committed with an explicit retention time (OffsetCommit v2-v4)
// expires at its own expiry time instead. Offsets with commits in flight
// never expire. An Empty group left with no offsets is deleted.

func (c *Coordinator) expireOffsetsLocked() {
	now := c.nowMs()
	retention := c.cfg.OffsetsRetention.Milliseconds()
	for _, g := range c.sortedGroupsLocked() {
		if g.state == stateDead {
			continue
		}
		var base func(*offsetEntry) int64
		var skip map[string]struct{}
		switch {
		case g.protocolType == "":
			base = func(e *offsetEntry) int64 { return e.commitMs }
		case g.state == stateEmpty:
			stateMs := g.stateMs
			base = func(e *offsetEntry) int64 {
				if stateMs >= 0 {
					return stateMs
				}
				return e.commitMs
			}
		case g.protocolType == "consumer" && g.subscribed != nil && g.state == stateStable:
			base = func(e *offsetEntry) int64 { return e.commitMs }
			skip = g.subscribed
		}
		var expired []tp
		if base != nil {
			for k, s := range g.offsets {
				if !s.committed || s.pending > 0 {
					continue
				}
				if _, ok := skip[k.topic]; ok {
					continue
				}
				if s.expireMs != noExpireTimestamp {
					if now >= s.expireMs {
						expired = append(expired, k)
					}
				} else if now-base(&s.offsetEntry) >= retention {
					expired = append(expired, k)
				}
			}
		}
		drop := g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 &&
			g.numPending == 0 && len(g.txnOffsets) == 0 && g.numTxnPending == 0 && g.numOffsets == len(expired)
		if len(expired) == 0 && !drop {
			continue
		}
		c.log.Info("expiring offsets", "group", g.id, "offsets", len(expired), "delete_group", drop)
		if !drop {
			c.deleteOffsetsLocked(g, expired, nil, func(error) {})
			continue
		}
		c.transitionLocked(g, stateDead)
		c.deleteOffsetsLocked(g, expired, deletionRecordsLocked(g), func(err error) {
			if err != nil {
				c.transitionLocked(g, stateEmpty)
				return
			}
			c.removeGroupLocked(g)
		})
	}
	c.armLocked(&c.mu.expiry, c.cfg.OffsetsRetentionCheckInterval, c.expireOffsetsLocked)
}
