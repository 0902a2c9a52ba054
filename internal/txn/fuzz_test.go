package txn

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzLoad feeds an arbitrary __transaction_state record (tombstone if flags bit 0 is set)
// after a valid one to Start, then describes and lists everything loaded, ends every loaded
// transaction and runs the timers. Nothing may panic; corrupt records are skipped; a record
// that decodes must round-trip through encodeValue.
func FuzzLoad(f *testing.F) {
	ongoing := meta{pid: 7, epoch: 3, timeoutMs: 1000, state: Ongoing, parts: []TopicPartition{{"t", 0}, {"t", 2}, {"u", 1}}, startMs: 5, updateMs: 6}
	f.Add(encodeKey("fz"), encodeValue(&ongoing), uint8(0))
	prep := ongoing
	prep.state = PrepareCommit
	f.Add(encodeKey("fz"), encodeValue(&prep), uint8(0))
	f.Add(encodeKey("fz"), []byte(nil), uint8(1))
	f.Add([]byte{0, 0, 0, 2, 'f', 'z'}, []byte{0, 1, 0, 0}, uint8(0))
	f.Fuzz(func(t *testing.T, key, value []byte, flags uint8) {
		if flags&1 != 0 {
			value = nil
		}
		if m, err := decodeValue(value); err == nil {
			again, err := decodeValue(encodeValue(&m))
			if err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			m.lastPID, again.lastPID = -1, -1
			if len(m.parts) == 0 {
				m.parts = nil
			}
			if len(again.parts) == 0 {
				again.parts = nil
			}
			if !reflect.DeepEqual(m, again) {
				t.Fatalf("round trip changed %+v to %+v", m, again)
			}
		}
		h := newHarness(t, Config{NumPartitions: 1})
		valid := meta{pid: 1, epoch: 0, timeoutMs: 1000, state: Empty, startMs: -1}
		h.store.Append(h.c.ctx, 0, 0, []KV{{Key: encodeKey("ok"), Value: encodeValue(&valid)}, {Key: key, Value: value}})
		h.crash()
		h.q.run()
		for _, i := range h.c.Transactions() {
			d := kmsg.NewPtrDescribeTransactionsRequest()
			d.TransactionalIDs = []string{i.TransactionalID}
			h.do(d)
			h.do(endReq(i.TransactionalID, i.ProducerID, i.ProducerEpoch, flags&2 != 0))
		}
		h.do(kmsg.NewPtrListTransactionsRequest())
		h.advance(1 << 40)
		h.c.AbortTimedOut()
		h.c.ExpireTransactionalIDs()
		h.q.run()
	})
}
