package replication

// Divergence is the DivergingEpoch a leader puts in a follower's Fetch response (KIP-595):
// the follower's log holds records the leader does not, and must be truncated using this
// epoch and end offset before it fetches again.
type Divergence struct {
	Epoch     int32
	EndOffset int64
}

// CheckFetch is the leader's divergence test of a follower Fetch (KIP-595, replacing the
// separate OffsetForLeaderEpoch round trip of KIP-101/279): the follower is at fetchOffset
// and its last record has epoch lastFetchedEpoch. The leader's cache and log end offset give
// the end of that epoch on the leader; if the leader has no such epoch, or it ends before
// fetchOffset, the follower diverged and the returned Divergence tells it where. A follower
// with an empty log (lastFetchedEpoch < 0) never diverges.
func CheckFetch(leader *EpochCache, leaderEnd, fetchOffset int64, lastFetchedEpoch int32) (Divergence, bool) {
	if lastFetchedEpoch < 0 {
		return Divergence{}, false
	}
	epoch, end := leader.EndOffsetFor(lastFetchedEpoch, leaderEnd)
	if epoch < lastFetchedEpoch || end < fetchOffset {
		return Divergence{Epoch: epoch, EndOffset: end}, true
	}
	return Divergence{}, false
}

// TruncationPoint is where a follower whose log ends at logEnd truncates on receiving div:
// the end, on its own log, of the largest epoch not above div.Epoch, capped by div.EndOffset
// when the follower has that very epoch. When the follower lacks div.Epoch it truncates to
// the end of its own older epoch and fetches again with the new last fetched epoch, which may
// diverge once more, so the loop converges on the last common epoch (as the TLA+
// specification's FindTruncatePoint). The point never exceeds logEnd and is 0 when the
// follower has no epoch at or below div.Epoch.
func TruncationPoint(follower *EpochCache, logEnd int64, div Divergence) int64 {
	epoch, end := follower.EndOffsetFor(div.Epoch, logEnd)
	point := end
	switch {
	case epoch == UndefinedEpoch || end < 0:
		point = 0
	case epoch == div.Epoch && div.EndOffset >= 0 && div.EndOffset < end:
		point = div.EndOffset
	}
	if div.Epoch < 0 {
		point = 0
	}
	if point > logEnd {
		point = logEnd
	}
	return point
}

// FollowerHighWatermark is a follower's high watermark after a fetch: the leader's, limited
// to what the follower itself holds durably.
func FollowerHighWatermark(leaderHW, localEnd int64) int64 {
	return min(leaderHW, localEnd)
}
