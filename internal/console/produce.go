package console

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/serde"
)

// ProduceRequest is the body of POST /api/topics/{topic}/messages.
type ProduceRequest struct {
	Partition *int32       `json:"partition"` // nil: the key's partition (murmur2), or any
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []HeaderView `json:"headers"` // Encoding ignored: values are text
	// ValueSubject, if set, encodes Value (Avro JSON) with the subject's latest schema.
	ValueSubject string `json:"value_subject"`
}

// ProduceResult is where the record landed.
type ProduceResult struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	SchemaID  int   `json:"schema_id,omitempty"`
}

const maxProduceBytes = 1 << 20

func (c *Console) produce(ctx context.Context, topic string, req ProduceRequest) (ProduceResult, error) {
	if err := validTopic(topic); err != nil {
		return ProduceResult{}, err
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationWrite, topic); err != nil {
		return ProduceResult{}, err
	}
	rec := &kgo.Record{Topic: topic}
	size := 0
	if req.Partition != nil {
		if *req.Partition < 0 {
			return ProduceResult{}, badRequest("partition %d: partitions are numbered from 0", *req.Partition)
		}
		md, err := c.metadata(ctx, topic)
		if err != nil {
			return ProduceResult{}, err
		}
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil {
			return ProduceResult{}, notFound("topic %q does not exist", topic)
		}
		if int(*req.Partition) >= len(td.Partitions) {
			return ProduceResult{}, badRequest("partition %d: topic %q has %d partitions", *req.Partition, topic, len(td.Partitions))
		}
		rec.Partition = *req.Partition
		rec.Context = context.WithValue(ctx, manualPartition{}, true)
	}
	if req.Key != nil {
		rec.Key = []byte(*req.Key)
		size += len(rec.Key)
	}
	var res ProduceResult
	if req.Value != nil {
		rec.Value = []byte(*req.Value)
		if req.ValueSubject != "" {
			if err := validSubject(req.ValueSubject); err != nil {
				return res, err
			}
			enc, id, err := c.avroFromJSON(ctx, req.ValueSubject, *req.Value)
			if err != nil {
				return res, err
			}
			rec.Value, res.SchemaID = enc, id
		}
		size += len(rec.Value)
	}
	for _, h := range req.Headers {
		if h.Key == "" {
			return res, badRequest("headers: a header needs a name")
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		size += len(h.Key) + len(h.Value)
	}
	if size > maxProduceBytes {
		return res, badRequest("message of %d bytes: the console produces at most %d", size, maxProduceBytes)
	}
	r, err := c.producer().ProduceSync(ctx, rec).First()
	if err != nil {
		return res, fmt.Errorf("produce to %s: %w", topic, err)
	}
	res.Partition, res.Offset = r.Partition, r.Offset
	c.kick()
	return res, nil
}

type manualPartition struct{}

// producer is the client records are produced with.
func (c *Console) producer() *kgo.Client { return c.cl }

// partitioner sends records that name a partition there, keyed records to their key's
// partition (murmur2, as Java clients do) and the rest round-robin.
func partitioner() kgo.Partitioner {
	keyed := kgo.StickyKeyPartitioner(nil)
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		byKey := keyed.ForTopic(topic)
		var next atomic.Uint32
		return func(r *kgo.Record, n int) int {
			switch {
			case r.Context != nil && r.Context.Value(manualPartition{}) != nil:
				return int(r.Partition)
			case r.Key != nil:
				return byKey.Partition(r, n)
			}
			return int(next.Add(1) % uint32(n))
		}
	})
}

// avroFromJSON encodes JSON text (Avro's JSON encoding) with the latest schema of subject, in
// the registry's wire format.
func (c *Console) avroFromJSON(ctx context.Context, subject, value string) ([]byte, int, error) {
	if c.reg == nil {
		return nil, 0, errNoRegistry
	}
	var sv SchemaVersion
	if err := c.registryGet(ctx, "/subjects/"+url.PathEscape(subject)+"/versions/latest", &sv); err != nil {
		return nil, 0, registryStatus(err)
	}
	if sv.SchemaType != "" && sv.SchemaType != "AVRO" {
		return nil, 0, badRequest("subject %q holds a %s schema: the console encodes Avro only", subject, sv.SchemaType)
	}
	s, err := c.reg.SchemaByID(ctx, sv.ID)
	if err != nil {
		return nil, 0, err
	}
	var native any
	if err := s.DecodeJSON([]byte(value), &native, avro.TaggedUnions()); err != nil {
		return nil, 0, badRequest("value does not fit the latest schema of %q (id %d): %v", subject, sv.ID, err)
	}
	hdr, err := serde.AppendHeader(nil, sv.ID)
	if err != nil {
		return nil, 0, err
	}
	out, err := s.AppendEncode(hdr, native)
	if err != nil {
		return nil, 0, badRequest("value does not fit the latest schema of %q (id %d): %v", subject, sv.ID, err)
	}
	return out, sv.ID, nil
}
