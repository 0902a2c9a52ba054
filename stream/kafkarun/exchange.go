package kafkarun

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/stream"
)

// Repartitioning (Config.Repartition): every exchange of the pipeline (the key routing in
// front of a grouping, join or table) goes through a repartition topic,
// <ApplicationID>-<exchange>-repartition, with one partition per task. The sending task
// produces each element with its encoded key (Kafka's default partitioner places it); the
// task with the same number consumes partition n of every repartition topic, like an input
// topic, and feeds the records to its executor (stream.Executor.Receive).
//
// Watermarks cross the topic as control records. A task broadcasts, to every partition of
// the repartition topic, its sending-side watermark and whether that side is idle, whenever
// either changes and at every commit (a heartbeat for receivers that restarted):
//
//	header samsa.kafkarun.watermark = version(1)=1 sender(uvarint) watermark(8, big-endian) idle(1)
//
// Duplicates: at-least-once means a sending task that crashes sends again, after restoring
// its last commit, the elements it had sent since. Each data record therefore carries the
// sender's sequence number for the exchange,
//
//	header samsa.kafkarun.seq = sender(uvarint) seq(uvarint)
//
// counted from 1 and committed with the sender's state (the checkpoint's 's' entries); the
// receiver drops records whose sequence is not above the highest it has received from that
// sender, a number it commits with its own state ('r' entries). A replay that re-sends the
// same elements in the same order (element-wise transforms before the exchange, the usual
// re-keying) is thus delivered once; elements that depend on processing time (a trigger
// firing at another moment before the exchange) may differ on replay.
//
// A receiving task's exchange watermark is the minimum over the senders that are not idle,
// a sender it has not heard from yet counting as -inf; when every sender is idle the
// receiving side is idle (stream.Executor.SetExchangeIdle) and holds no watermark back. Because a sender's watermark record
// follows its data records on each partition, a receiver never sees a watermark before the
// data it covers.

const (
	watermarkHeader = "samsa.kafkarun.watermark"
	seqHeader       = "samsa.kafkarun.seq"
)

var errBadWatermark = errors.New("kafkarun: malformed watermark record")

func encodeWatermark(sender int32, wm stream.Time, idle bool) []byte {
	b := []byte{1}
	b = binary.AppendUvarint(b, uint64(sender))
	b = binary.BigEndian.AppendUint64(b, uint64(wm))
	if idle {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeWatermark(b []byte) (sender int32, wm stream.Time, idle bool, err error) {
	if len(b) < 1 || b[0] != 1 {
		return 0, 0, false, errBadWatermark
	}
	s, k := binary.Uvarint(b[1:])
	if k <= 0 || s > 1<<31-1 || len(b) != 1+k+9 || b[1+k+8] > 1 {
		return 0, 0, false, errBadWatermark
	}
	wm = stream.Time(binary.BigEndian.Uint64(b[1+k:]))
	if wm < stream.MinTime || wm > stream.MaxTime {
		return 0, 0, false, errBadWatermark
	}
	return int32(s), wm, b[1+k+8] == 1, nil
}

// repartitionTopic names the topic of an exchange: characters Kafka does not allow in topic
// names become '_'.
func repartitionTopic(app, exchange string) string {
	var b strings.Builder
	for _, r := range exchange {
		if r < 128 && (r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return app + "-" + b.String() + "-repartition"
}

// ensureRepartitionTopics creates (or checks) the repartition topic of every exchange that
// repartitions: those after a possible key change (stream.Pipeline.NeedsRepartition), or all
// of them with Config.Repartition.
func (a *App) ensureRepartitionTopics(ctx context.Context) error {
	a.repart, a.repartTopics = map[string]string{}, map[string]string{}
	exchanges := a.p.RepartitionedExchanges()
	if a.cfg.Repartition {
		exchanges = a.p.Exchanges()
	}
	for _, x := range exchanges {
		topic := repartitionTopic(a.cfg.ApplicationID, x)
		if other, dup := a.repartTopics[topic]; dup {
			return fmt.Errorf("%w: exchanges %q and %q map to one repartition topic %s; name the transforms", ErrConfig, other, x, topic)
		}
		if len(topic) > 249 {
			return fmt.Errorf("%w: repartition topic name %q is longer than 249 characters; name the transform", ErrConfig, topic)
		}
		a.repart[x], a.repartTopics[topic] = topic, x
		_, n, created, err := a.ensureTopic(ctx, topic, a.ntasks, nil)
		if err != nil {
			return err
		}
		if created {
			a.log.Info("created repartition topic", "topic", topic, "partitions", n)
		}
		if n != a.ntasks {
			return fmt.Errorf("kafkarun: repartition topic %s has %d partitions, the application has %d tasks", topic, n, a.ntasks)
		}
	}
	return nil
}

// taskExchange is a task's stream.Exchange: it produces to the repartition topics.
type taskExchange struct {
	a *App
	t *task
}

func (x *taskExchange) Send(name string, r *stream.Record) error {
	topic, ok := x.a.repart[name]
	if !ok {
		return fmt.Errorf("kafkarun: no repartition topic for exchange %q", name)
	}
	t := x.t
	t.sendSeq[name]++
	t.seqBuf = binary.AppendUvarint(t.seqBuf[:0], uint64(t.id))
	t.seqBuf = binary.AppendUvarint(t.seqBuf, t.sendSeq[name])
	t.hdrs = append(append(t.hdrs[:0], r.Headers...), stream.Header{Key: seqHeader, Value: t.seqBuf})
	t.xrec = *r
	t.xrec.Headers = t.hdrs
	kr := x.a.recPool.Get().(*kgo.Record)
	fillRecord(kr, topic, &t.xrec)
	t.dirty = true
	x.a.cl.Produce(context.Background(), kr, x.a.exchanged)
	return nil
}

// Watermark is not used: the loop reads the sending side's watermark and idleness after
// each step (broadcastWatermarks) and sends them when they change.
func (x *taskExchange) Watermark(string, stream.Time) error { return nil }

func (a *App) exchanged(r *kgo.Record, err error) {
	if err != nil {
		a.produceFailed(fmt.Errorf("kafkarun: produce to %s: %w", r.Topic, err))
	}
	a.recPool.Put(r)
}

// fillRecord copies a stream record into a pooled franz-go record.
func fillRecord(kr *kgo.Record, topic string, r *stream.Record) {
	kr.Topic, kr.Partition = topic, 0
	kr.Key = append(kr.Key[:0], r.Key...)
	if r.Key == nil {
		kr.Key = nil
	}
	kr.Value = append(kr.Value[:0], r.Value...)
	if r.Value == nil {
		kr.Value = nil
	}
	hs := kr.Headers[:0]
	for i, h := range r.Headers {
		var v []byte
		if i < cap(kr.Headers) {
			v = kr.Headers[:i+1][i].Value[:0]
		}
		hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: append(v, h.Value...)})
	}
	kr.Headers = hs
	kr.Timestamp = time.UnixMilli(int64(r.Timestamp))
}

// sentWM is what a task last broadcast for one exchange.
type sentWM struct {
	wm   stream.Time
	idle bool
	ok   bool
}

// senderWM is what a receiving task knows of one sender.
type senderWM struct {
	wm   stream.Time
	idle bool
}

// broadcastWatermarks sends the task's sending-side watermark of every exchange to every
// partition of its repartition topic, when it changed (or always, with force). t.mu held.
func (t *task) broadcastWatermarksLocked(force bool) {
	a := t.app
	for name, topic := range a.repart {
		wm, idle := t.ex.InputWatermark(name), t.ex.ExchangeInputIdle(name)
		last := t.sent[name]
		if !force && last.ok && last.wm == wm && last.idle == idle {
			continue
		}
		t.sent[name] = sentWM{wm, idle, true}
		a.log.Debug("exchange watermark sent", "task", t.id, "exchange", name, "wm", wm, "idle", idle)
		v := encodeWatermark(t.id, wm, idle)
		for p := int32(0); p < a.ntasks; p++ {
			r := &kgo.Record{Topic: topic, Partition: p, Headers: []kgo.RecordHeader{{Key: watermarkHeader, Value: v}}}
			a.cl.Produce(context.Background(), r, a.changelogDone)
		}
	}
}

// receive handles one record of a repartition topic. t.mu held.
func (t *task) receiveLocked(name string) error {
	for _, h := range t.rec.Headers {
		if h.Key != watermarkHeader {
			continue
		}
		s, wm, idle, err := decodeWatermark(h.Value)
		if err != nil {
			return fmt.Errorf("%s/%d@%d: %w", t.rec.Topic, t.rec.Partition, t.rec.Offset, err)
		}
		ss := t.senders[name]
		if ss == nil {
			ss = make([]senderWM, t.app.ntasks)
			for i := range ss {
				ss[i].wm = stream.MinTime
			}
			t.senders[name] = ss
		}
		if s >= int32(len(ss)) {
			return nil // a sender of a larger application; not ours
		}
		ss[s] = senderWM{max(ss[s].wm, wm), idle}
		t.app.log.Debug("exchange watermark received", "task", t.id, "exchange", name, "from", s, "wm", wm, "idle", idle)
		m, active := stream.MaxTime, false
		for _, x := range ss {
			if !x.idle {
				active = true
				m = min(m, x.wm)
			}
		}
		if !active {
			// Every sender is idle: the receiving side holds nothing back downstream.
			return t.ex.SetExchangeIdle(name, true)
		}
		if err := t.ex.SetExchangeIdle(name, false); err != nil {
			return err
		}
		return t.ex.SetExchangeWatermark(name, m)
	}
	for _, h := range t.rec.Headers {
		if h.Key != seqHeader {
			continue
		}
		s, k := binary.Uvarint(h.Value)
		if k <= 0 || s > 1<<31-1 {
			return fmt.Errorf("%s/%d@%d: malformed %s header", t.rec.Topic, t.rec.Partition, t.rec.Offset, seqHeader)
		}
		seq, k2 := binary.Uvarint(h.Value[k:])
		if k2 <= 0 || k+k2 != len(h.Value) {
			return fmt.Errorf("%s/%d@%d: malformed %s header", t.rec.Topic, t.rec.Partition, t.rec.Offset, seqHeader)
		}
		if int32(s) < t.app.ntasks {
			ss := t.recvSeqs(name)
			if seq <= ss[s] {
				t.app.duplicates.Add(1)
				return nil
			}
			ss[s] = seq
		}
		break
	}
	t.app.received.Add(1)
	return t.ex.Receive(name, &t.rec)
}

// repartitioner places repartition records: watermark control records on the partition
// they name, data records by key hash (Kafka's default partitioner).
type repartitioner struct{ hash kgo.TopicPartitioner }

func (p repartitioner) RequiresConsistency(*kgo.Record) bool { return true }
func (p repartitioner) Partition(r *kgo.Record, n int) int {
	if len(r.Headers) == 1 && r.Headers[0].Key == watermarkHeader {
		return int(r.Partition)
	}
	return p.hash.Partition(r, n)
}
