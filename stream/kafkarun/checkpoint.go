package kafkarun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// A task's commit marker and local checkpoint share one encoding. The marker is the value
// of the record with key markerKey in the task's changelog partition; the local checkpoint
// is the value of the key checkpointKey in the task's pebble store.
//
//	checkpoint := version(1) changelogNext(uvarint) topicID(16) count(uvarint) position* [seqs]
//	position   := topic(uvarint len, bytes) partition(uvarint) offset(uvarint) epoch(varint)
//	seqs       := count(uvarint) { kind(1) exchange(uvarint len, bytes) task(uvarint) seq(uvarint) }*
//	stores     := count(uvarint) { topic(uvarint len, bytes) topicID(16) next(uvarint) }*
//
// Version 1 has no seqs; version 2 has no stores; version 3 (written now) has both. A store
// entry names a store's changelog topic and the offset in the task's partition of it up to
// which the commit covers the store (the offset after the commit's last record there): a
// restore applies that partition's records below it and none above. A seq entry of kind 's' is the
// number of records this task has sent on an exchange; of kind 'r', the highest sequence
// number received on an exchange from the sending task (Config.Repartition's duplicate
// suppression, see exchange.go).
//
// changelogNext is the changelog offset from which the store is not yet up to date (0 in a
// marker, which stands at its own offset). topicID is the changelog topic's id (zero in a
// marker) so that a local store outliving a deleted and re-created changelog is detected.
// Positions are the next input offsets to consume, sorted by topic and partition.

// position is the next offset to consume from one input partition, with the leader epoch
// of the last record consumed (-1 if unknown).
type position struct {
	Topic     string
	Partition int32
	Offset    int64
	Epoch     int32
}

type checkpoint struct {
	ChangelogNext int64
	TopicID       [16]byte
	Positions     []position
	Seqs          []seqEntry
	Stores        []storeEnd
}

// storeEnd is a store changelog's position in a checkpoint (ID zero in a marker).
type storeEnd struct {
	Topic string
	ID    [16]byte
	Next  int64
}

// store returns the entry of topic, if any.
func (c *checkpoint) store(topic string) (storeEnd, bool) {
	for _, s := range c.Stores {
		if s.Topic == topic {
			return s, true
		}
	}
	return storeEnd{}, false
}

// seqEntry is an exchange sequence number (Kind 's': sent by this task; 'r': received from
// task Task).
type seqEntry struct {
	Kind     byte
	Exchange string
	Task     int32
	Seq      uint64
}

// errBadCheckpoint is wrapped by decodeCheckpoint errors.
var errBadCheckpoint = errors.New("kafkarun: malformed checkpoint")

func (c *checkpoint) sort() {
	sort.Slice(c.Positions, func(i, j int) bool {
		a, b := c.Positions[i], c.Positions[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	sort.Slice(c.Seqs, func(i, j int) bool {
		a, b := c.Seqs[i], c.Seqs[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Exchange != b.Exchange {
			return a.Exchange < b.Exchange
		}
		return a.Task < b.Task
	})
	sort.Slice(c.Stores, func(i, j int) bool { return c.Stores[i].Topic < c.Stores[j].Topic })
}

func (c *checkpoint) encode(dst []byte) []byte {
	dst = append(dst, 3)
	dst = binary.AppendUvarint(dst, uint64(c.ChangelogNext))
	dst = append(dst, c.TopicID[:]...)
	dst = binary.AppendUvarint(dst, uint64(len(c.Positions)))
	for _, p := range c.Positions {
		dst = binary.AppendUvarint(dst, uint64(len(p.Topic)))
		dst = append(dst, p.Topic...)
		dst = binary.AppendUvarint(dst, uint64(p.Partition))
		dst = binary.AppendUvarint(dst, uint64(p.Offset))
		dst = binary.AppendVarint(dst, int64(p.Epoch))
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Seqs)))
	for _, s := range c.Seqs {
		dst = append(dst, s.Kind)
		dst = binary.AppendUvarint(dst, uint64(len(s.Exchange)))
		dst = append(dst, s.Exchange...)
		dst = binary.AppendUvarint(dst, uint64(s.Task))
		dst = binary.AppendUvarint(dst, s.Seq)
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Stores)))
	for _, s := range c.Stores {
		dst = binary.AppendUvarint(dst, uint64(len(s.Topic)))
		dst = append(dst, s.Topic...)
		dst = append(dst, s.ID[:]...)
		dst = binary.AppendUvarint(dst, uint64(s.Next))
	}
	return dst
}

// decodeCheckpoint parses an encoded checkpoint. It never panics, whatever b holds.
func decodeCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	bad := func(what string) (checkpoint, error) {
		return checkpoint{}, fmt.Errorf("%w: %s", errBadCheckpoint, what)
	}
	if len(b) < 1 || b[0] < 1 || b[0] > 3 {
		return bad("unknown version")
	}
	version := b[0]
	b = b[1:]
	next, k := binary.Uvarint(b)
	if k <= 0 || next > 1<<62 {
		return bad("changelog offset")
	}
	b = b[k:]
	c.ChangelogNext = int64(next)
	if len(b) < 16 {
		return bad("topic id")
	}
	copy(c.TopicID[:], b)
	b = b[16:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return bad("position count")
	}
	b = b[k:]
	c.Positions = make([]position, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > 249 || l > uint64(len(b)-k) {
			return bad("topic name")
		}
		p := position{Topic: string(b[k : k+int(l)])}
		b = b[k+int(l):]
		part, k := binary.Uvarint(b)
		if k <= 0 || part > 1<<31-1 {
			return bad("partition")
		}
		b = b[k:]
		off, k := binary.Uvarint(b)
		if k <= 0 || off > 1<<62 {
			return bad("offset")
		}
		b = b[k:]
		ep, k := binary.Varint(b)
		if k <= 0 || ep < -1 || ep > 1<<31-1 {
			return bad("epoch")
		}
		b = b[k:]
		p.Partition, p.Offset, p.Epoch = int32(part), int64(off), int32(ep)
		c.Positions = append(c.Positions, p)
	}
	if version >= 2 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return bad("seq count")
		}
		b = b[k:]
		for i := uint64(0); i < n; i++ {
			if len(b) < 1 || (b[0] != 's' && b[0] != 'r') {
				return bad("seq kind")
			}
			s := seqEntry{Kind: b[0]}
			b = b[1:]
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return bad("seq exchange")
			}
			s.Exchange = string(b[k : k+int(l)])
			b = b[k+int(l):]
			task, k := binary.Uvarint(b)
			if k <= 0 || task > 1<<31-1 {
				return bad("seq task")
			}
			b = b[k:]
			seq, k := binary.Uvarint(b)
			if k <= 0 {
				return bad("seq")
			}
			b = b[k:]
			s.Task, s.Seq = int32(task), seq
			c.Seqs = append(c.Seqs, s)
		}
	}
	if version >= 3 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return bad("store count")
		}
		b = b[k:]
		for i := uint64(0); i < n; i++ {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > 249 || l > uint64(len(b)-k) {
				return bad("store topic")
			}
			s := storeEnd{Topic: string(b[k : k+int(l)])}
			b = b[k+int(l):]
			if len(b) < 16 {
				return bad("store topic id")
			}
			copy(s.ID[:], b)
			b = b[16:]
			next, k := binary.Uvarint(b)
			if k <= 0 || next > 1<<62 {
				return bad("store offset")
			}
			b = b[k:]
			s.Next = int64(next)
			c.Stores = append(c.Stores, s)
		}
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return c, nil
}
