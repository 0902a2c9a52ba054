package console

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/samsa-streaming/samsa/internal/metrics"
)

// point is one sample of the cluster-wide throughput chart.
type point struct {
	T            float64 // unix seconds (ms precision)
	ProduceMsgs  float64 // records/s appended (sum of end-offset growth over all topics)
	ProduceBytes float64 // bytes/s appended to this node's logs (samsa_produced_bytes_total)
	FetchBytes   float64 // bytes/s returned by this node's fetches (samsa_fetched_bytes_total)
	ConsumeMsgs  float64 // records/s committed by consumer groups (committed-offset growth)
}

// lagPoint is one sample of a group's lag chart.
type lagPoint struct {
	T       float64
	Records int64
	Seconds float64
}

// maxGroupHistories bounds the groups whose lag history is kept.
const maxGroupHistories = 500

// history is the in-memory chart history: a ring of points per series.
type history struct {
	mu     sync.Mutex
	cap    int
	points []point
	groups map[string][]lagPoint
}

func newHistory(n int) *history {
	if n < 2 {
		n = 2
	}
	return &history{cap: n, groups: map[string][]lagPoint{}}
}

func (h *history) add(p point, lags map[string]lagPoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.points) == h.cap {
		copy(h.points, h.points[1:])
		h.points = h.points[:h.cap-1]
	}
	h.points = append(h.points, p)
	for g := range h.groups {
		if _, ok := lags[g]; !ok {
			delete(h.groups, g)
		}
	}
	for g, lp := range lags {
		s, ok := h.groups[g]
		if !ok && len(h.groups) >= maxGroupHistories {
			continue
		}
		if len(s) == h.cap {
			copy(s, s[1:])
			s = s[:h.cap-1]
		}
		h.groups[g] = append(s, lp)
	}
}

func (h *history) throughput() []point {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.points)
}

func (h *history) group(g string) []lagPoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.groups[g])
}

// snapshot is what the last sample read; pages join it with live reads.
type snapshot struct {
	At      time.Time
	Topics  map[string]topicStats
	Groups  map[string]groupStats
	Brokers int
	// running totals for the next sample's rates
	endSum       map[string]int64
	commitSum    int64
	producedByte int64
	fetchedByte  int64
}

type topicStats struct {
	Partitions      int
	Messages        int64 // sum over partitions of end - start
	Size            int64 // bytes on disk, -1 unknown
	MsgRate         float64
	UnderReplicated int
}

type groupStats struct {
	State   string
	Members int
	Lag     int64
	LagSecs float64
}

// tsKey/tsVal cache the timestamp of the record at a committed offset (it never changes).
type tsKey struct {
	topic     string
	partition int32
}

type tsVal struct {
	offset int64
	ts     int64
}

// maxTimestampLookups bounds the fetches one sample makes for lag-in-seconds estimates.
const maxTimestampLookups = 2000

func (c *Console) sampleLoop() {
	t := time.NewTicker(c.cfg.SampleInterval)
	defer t.Stop()
	for {
		c.sampleOnce()
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.kickc:
		}
	}
}

// sampleOnce reads topics, offsets, sizes and group lag, feeds the metrics and the history.
func (c *Console) sampleOnce() {
	ctx, cancel := context.WithTimeout(c.ctx, max(c.cfg.SampleInterval, 5*time.Second))
	defer cancel()
	now := time.Now()
	prev := c.snap.Load()
	s := &snapshot{At: now, Topics: map[string]topicStats{}, Groups: map[string]groupStats{}, endSum: map[string]int64{}}
	md, err := c.metadata(ctx)
	if err != nil {
		if c.ctx.Err() == nil {
			c.log.Debug("console sample: metadata", "err", err)
		}
		return
	}
	s.Brokers = len(md.Brokers)
	starts, _ := c.adm.ListStartOffsets(ctx)
	ends, _ := c.adm.ListEndOffsets(ctx)
	sizes := map[string]map[int32]int64{}
	if dirs, err := c.adm.DescribeAllLogDirs(ctx, nil); err == nil {
		dirs.Each(func(d kadm.DescribedLogDir) {
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				if sizes[p.Topic] == nil {
					sizes[p.Topic] = map[int32]int64{}
				}
				sizes[p.Topic][p.Partition] += p.Size
			})
		})
	}
	var ts []metrics.TopicState
	for name, td := range md.Topics {
		if td.Err != nil {
			continue
		}
		st := topicStats{Partitions: len(td.Partitions), Size: -1}
		mt := metrics.TopicState{Name: name}
		var endSum int64
		if sz, ok := sizes[name]; ok {
			st.Size = 0
			for _, v := range sz {
				st.Size += v
			}
		}
		for p, pd := range td.Partitions {
			ps := metrics.PartitionState{Partition: p, SizeBytes: -1}
			if e, ok := ends.Lookup(name, p); ok && e.Err == nil {
				ps.HighWatermark = e.Offset
				endSum += e.Offset
				st.Messages += e.Offset
				if b, ok := starts.Lookup(name, p); ok && b.Err == nil {
					ps.LogStartOffset = b.Offset
					st.Messages -= b.Offset
				}
			}
			if sz, ok := sizes[name][p]; ok {
				ps.SizeBytes = sz
			}
			if len(pd.ISR) < len(pd.Replicas) {
				ps.UnderReplicated = true
				st.UnderReplicated++
			}
			mt.Partitions = append(mt.Partitions, ps)
		}
		s.endSum[name] = endSum
		if prev != nil {
			if pe, ok := prev.endSum[name]; ok {
				if dt := now.Sub(prev.At).Seconds(); dt > 0 && endSum >= pe {
					st.MsgRate = float64(endSum-pe) / dt
				}
			}
		}
		s.Topics[name] = st
		ts = append(ts, mt)
	}
	c.cfg.Metrics.SetCluster(ts)

	lags := map[string]lagPoint{}
	var gs []metrics.GroupState
	if gl, err := c.adm.Lag(ctx); err == nil {
		for _, dg := range gl.Sorted() {
			g := groupStats{State: dg.State, Members: len(dg.Members)}
			mg := metrics.GroupState{Group: dg.Group, Members: len(dg.Members)}
			byTopic := map[string]*metrics.TopicLag{}
			committed := false
			for _, l := range dg.Lag.Sorted() {
				if l.Err != nil || l.Commit.At < 0 {
					continue
				}
				committed = true
				s.commitSum += l.Commit.At
				lag := max(l.Lag, 0)
				secs := c.lagSeconds(ctx, l.Topic, l.Partition, l.Commit.At, l.End.Offset, now)
				tl := byTopic[l.Topic]
				if tl == nil {
					tl = &metrics.TopicLag{Topic: l.Topic, Partitions: map[int32]int64{}}
					byTopic[l.Topic] = tl
				}
				tl.Records += lag
				tl.Seconds = max(tl.Seconds, secs)
				tl.Partitions[l.Partition] = lag
				g.Lag += lag
				g.LagSecs = max(g.LagSecs, secs)
			}
			for _, tl := range byTopic {
				mg.Lag = append(mg.Lag, *tl)
			}
			s.Groups[dg.Group] = g
			gs = append(gs, mg)
			if committed {
				lags[dg.Group] = lagPoint{T: unixSeconds(now), Records: g.Lag, Seconds: g.LagSecs}
			}
		}
	}
	c.cfg.Metrics.SetGroups(gs)

	s.producedByte, s.fetchedByte = c.cfg.Metrics.Totals()
	p := point{T: unixSeconds(now)}
	if prev != nil {
		if dt := now.Sub(prev.At).Seconds(); dt > 0 {
			var sum, psum int64
			for n, v := range s.endSum {
				sum += v
				psum += prev.endSum[n]
				if _, ok := prev.endSum[n]; !ok {
					psum += v // a new topic: its offsets are not throughput of this interval
				}
			}
			p.ProduceMsgs = rate(sum-psum, dt)
			p.ProduceBytes = rate(s.producedByte-prev.producedByte, dt)
			p.FetchBytes = rate(s.fetchedByte-prev.fetchedByte, dt)
			p.ConsumeMsgs = rate(s.commitSum-prev.commitSum, dt)
		}
	}
	c.snap.Store(s)
	c.hist.add(p, lags)
}

func rate(d int64, dt float64) float64 {
	if d <= 0 {
		return 0
	}
	return float64(d) / dt
}

// lagSeconds estimates how far behind a partition's consumer is in time: the age of the
// record at the committed offset (the oldest record not yet consumed), 0 when caught up. The
// timestamp of a given offset never changes, so it is cached per partition.
func (c *Console) lagSeconds(ctx context.Context, topic string, partition int32, committed, end int64, now time.Time) float64 {
	if committed >= end {
		return 0
	}
	k := tsKey{topic, partition}
	c.tsCache.Lock()
	v, ok := c.tsCache.m[k]
	n := len(c.tsCache.m)
	c.tsCache.Unlock()
	if !ok || v.offset != committed {
		if !ok && n >= maxTimestampLookups {
			return 0
		}
		ts, found, err := c.timestampAt(ctx, topic, partition, committed)
		if err != nil || !found {
			return 0
		}
		v = tsVal{offset: committed, ts: ts}
		c.tsCache.Lock()
		c.tsCache.m[k] = v
		c.tsCache.Unlock()
	}
	return max(0, now.Sub(time.UnixMilli(v.ts)).Seconds())
}

// unixSeconds is t in seconds since the epoch, to the millisecond (chart x values).
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
