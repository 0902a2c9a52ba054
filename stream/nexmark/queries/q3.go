package queries

import (
	"github.com/samsa-streaming/samsa/stream"
	"github.com/samsa-streaming/samsa/stream/nexmark/model"
)

// Q3 is "local item suggestion": who is selling in OR, ID or CA in category 10, and for what
// auction ids? In CQL:
//
//	SELECT Istream(P.name, P.city, P.state, A.id)
//	FROM Auction A [ROWS UNBOUNDED], Person P [ROWS UNBOUNDED]
//	WHERE A.seller = P.id AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
//	  AND A.category = 10
//
// As in Beam, the join is incremental, with state per seller: a person is kept so that every
// later auction joins at once, and auctions that arrive before their seller's person event
// wait in state until it comes. A person's state expires (an event-time timer)
// MaxAuctionsWaitingTime after the person's own time; auctions arriving later no longer find
// it. Results carry the time of the element that completed the pair.
func Q3(events stream.Stream[model.Event], cfg Config) stream.Stream[model.NameCityStateID] {
	cfg = cfg.withDefaults()
	wait := stream.Time(cfg.MaxAuctionsWaitingTime.Milliseconds())
	// Key category-10 auctions by seller and people of the three states by id; both sides
	// travel as Events so that one keyed processor sees them in arrival order.
	keyed := stream.FlatMap(events, func(e model.Event, emit func(stream.KV[int64, model.Event])) {
		switch {
		case e.Auction != nil && e.Auction.Category == 10:
			emit(stream.KV[int64, model.Event]{Key: e.Auction.Seller, Value: e})
		case e.Person != nil && (e.Person.State == "OR" || e.Person.State == "ID" || e.Person.State == "CA"):
			emit(stream.KV[int64, model.Event]{Key: e.Person.ID, Value: e})
		}
	}, stream.Named("q3.filterAndKey"))

	person := stream.NewValueState[*model.Person]("person", PersonCoder)
	pending := stream.NewBagState[*model.Auction]("auctions", AuctionCoder)
	const expiry = "personStateExpiring"
	return stream.ProcessKeyed(keyed, stream.KeyedFuncs[int64, model.Event, model.NameCityStateID]{
		ProcessElementFn: func(ctx *stream.KeyedContext[int64, model.NameCityStateID], e stream.Elem[stream.KV[int64, model.Event]]) error {
			known, ok, err := person.Get(ctx)
			if err != nil {
				return err
			}
			switch ev := e.Value.Value; {
			case ev.Auction != nil:
				if ok {
					// Seen the seller already: join on the fly.
					ctx.Emit(result(known, ev.Auction))
					return nil
				}
				// Remember the auction until the seller's person event arrives.
				return pending.Add(ctx, ev.Auction)
			case ev.Person != nil:
				if ok {
					return nil // a duplicate person: Beam counts it as an error and ignores it
				}
				waiting, err := pending.Read(ctx)
				if err != nil {
					return err
				}
				for _, a := range waiting {
					ctx.Emit(result(ev.Person, a))
				}
				if len(waiting) > 0 {
					if err := pending.Clear(ctx); err != nil {
						return err
					}
				}
				if err := person.Set(ctx, ev.Person); err != nil {
					return err
				}
				ctx.SetTimer(stream.EventTime, expiry, stream.Time(ev.Person.DateTime)+wait)
			}
			return nil
		},
		OnTimerFn: func(ctx *stream.KeyedContext[int64, model.NameCityStateID], t stream.Timer) error {
			return person.Clear(ctx)
		},
	}, stream.Named("q3.join"), stream.KeyCoder[int64](stream.Int64Coder{}), stream.ValueCoder[model.Event](EventCoder{}))
}

func result(p *model.Person, a *model.Auction) model.NameCityStateID {
	return model.NameCityStateID{Name: p.Name, City: p.City, State: p.State, ID: a.ID}
}
