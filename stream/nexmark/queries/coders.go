package queries

import (
	"fmt"

	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// EventCoder encodes events with the model's binary encoding (model.AppendEvent). It is the
// value coder of the Kafka event source and of every keyed exchange and state cell that holds
// events, so checkpoints and repartitions do not go through JSON.
type EventCoder struct{}

// Encode implements stream.Coder.
func (EventCoder) Encode(e model.Event) ([]byte, error) {
	if e.Kind() == 0 {
		return nil, fmt.Errorf("nexmark: cannot encode an empty event")
	}
	return model.AppendEvent(make([]byte, 0, model.MaxEncodedLen(e)), e), nil
}

// Decode implements stream.Coder; errors wrap model.ErrMalformed.
func (EventCoder) Decode(b []byte) (model.Event, error) { return model.DecodeEvent(b) }

// recordCoder encodes one record kind through the event encoding.
type recordCoder[T any] struct {
	wrap   func(*T) model.Event
	unwrap func(model.Event) *T
}

func (c recordCoder[T]) Encode(v *T) ([]byte, error) {
	if v == nil {
		return nil, fmt.Errorf("nexmark: cannot encode a nil %T", v)
	}
	e := c.wrap(v)
	return model.AppendEvent(make([]byte, 0, model.MaxEncodedLen(e)), e), nil
}

func (c recordCoder[T]) Decode(b []byte) (*T, error) {
	e, err := model.DecodeEvent(b)
	if err != nil {
		return nil, err
	}
	v := c.unwrap(e)
	if v == nil {
		return nil, fmt.Errorf("%w: a %v where a %T was expected", model.ErrMalformed, e.Kind(), v)
	}
	return v, nil
}

// Coders of the three record kinds, for state cells and exchanges.
var (
	PersonCoder stream.Coder[*model.Person] = recordCoder[model.Person]{
		wrap: func(p *model.Person) model.Event { return model.Event{Person: p} }, unwrap: func(e model.Event) *model.Person { return e.Person }}
	AuctionCoder stream.Coder[*model.Auction] = recordCoder[model.Auction]{
		wrap: func(a *model.Auction) model.Event { return model.Event{Auction: a} }, unwrap: func(e model.Event) *model.Auction { return e.Auction }}
	BidCoder stream.Coder[*model.Bid] = recordCoder[model.Bid]{
		wrap: func(b *model.Bid) model.Event { return model.Event{Bid: b} }, unwrap: func(e model.Event) *model.Bid { return e.Bid }}
)

// EventSource describes a source of Nexmark events: record values in the model's binary
// encoding, event time from the record (person, auction or bid) itself.
func EventSource(name string) stream.Source[model.Event] {
	return stream.Source[model.Event]{
		Name:      name,
		Value:     EventCoder{},
		Timestamp: func(e model.Event, _ stream.Time) stream.Time { return stream.Time(e.Timestamp()) },
	}
}

// BidValueCoder codes bids (values, not pointers) in the event encoding: q1's results.
var BidValueCoder stream.Coder[model.Bid] = bidValueCoder{}

type bidValueCoder struct{}

func (bidValueCoder) Encode(b model.Bid) ([]byte, error) {
	e := model.Event{Bid: &b}
	return model.AppendEvent(make([]byte, 0, model.MaxEncodedLen(e)), e), nil
}

func (bidValueCoder) Decode(b []byte) (model.Bid, error) {
	v, err := BidCoder.Decode(b)
	if err != nil {
		return model.Bid{}, err
	}
	return *v, nil
}
