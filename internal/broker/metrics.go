package broker

import (
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metrics"
)

// observe feeds Config.Metrics with one answered request (resp is nil for an acks=0 produce).
// It runs on the connection's writer, once per request, and reads the request and response
// only (the handler is done with both).
func (c *conn) observe(r *request, resp kmsg.Response) {
	m := c.b.cfg.Metrics
	if m == nil {
		return
	}
	var code int16
	switch resp := resp.(type) {
	case nil:
	case *kmsg.ProduceResponse:
		code = produceErr(resp)
	case *fileFetch:
		code = c.b.fetchObserve(m, resp.FetchResponse, resp.parts)
	case *kmsg.FetchResponse:
		code = c.b.fetchObserve(m, resp, nil)
	case *kmsg.EndTxnResponse:
		code = resp.ErrorCode
		result := metrics.TxnAborted
		if req, ok := r.kreq.(*kmsg.EndTxnRequest); ok && req.Commit {
			result = metrics.TxnCommitted
		}
		if code != 0 {
			result = metrics.TxnFailed
		}
		m.Transaction(result)
	default:
		code = firstErrorCode(reflect.ValueOf(resp), 0)
	}
	m.Request(r.hdr.Key, time.Since(r.at), code)
}

func produceErr(resp *kmsg.ProduceResponse) int16 {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if c := resp.Topics[i].Partitions[j].ErrorCode; c != 0 {
				return c
			}
		}
	}
	return 0
}

// fetchObserve counts the record bytes of a fetch response per topic and returns its first
// error code. parts, for a response served from files, holds each partition's byte count in
// encoding order. Topics named by id (v13+) are counted under their name.
func (b *Broker) fetchObserve(m *metrics.Metrics, resp *kmsg.FetchResponse, parts []fileFetchPart) int16 {
	code := resp.ErrorCode
	i := 0
	for t := range resp.Topics {
		var n int64
		for p := range resp.Topics[t].Partitions {
			sp := &resp.Topics[t].Partitions[p]
			if code == 0 {
				code = sp.ErrorCode
			}
			if parts != nil {
				if i < len(parts) {
					n += parts[i].n
				}
				i++
			} else {
				n += int64(len(sp.RecordBatches))
			}
		}
		if n == 0 {
			continue
		}
		name := resp.Topics[t].Topic
		if name == "" { // v13+ names topics by id
			if tp := b.lookupTopicID(resp.Topics[t].TopicID); tp != nil {
				name = tp.name
			}
		}
		m.Fetched(name, n)
	}
	return code
}

// firstErrorCode finds the first non-zero int16 field named ErrorCode in a response, depth
// first (top-level codes come before per-topic and per-partition ones).
func firstErrorCode(v reflect.Value, depth int) int16 {
	if depth > 4 {
		return 0
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 && f.Int() != 0 {
			return int16(f.Int())
		}
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct {
				if c := firstErrorCode(f, depth+1); c != 0 {
					return c
				}
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if c := firstErrorCode(v.Index(i), depth+1); c != 0 {
				return c
			}
		}
	}
	return 0
}
