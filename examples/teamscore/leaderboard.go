package main

import (
	"fmt"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// Options are the windowing parameters of the team scores (Beam's LeaderBoard, with the
// window shortened from an hour to two minutes so that a demo shows every kind of pane).
type Options struct {
	// Window is the fixed event-time window of the team sums (default 2 minutes).
	Window time.Duration
	// EarlyEvery: a window fires early this long (processing time) after the first element
	// since its previous pane (default 30 s).
	EarlyEvery time.Duration
	// AllowedLateness keeps a window open after the watermark passes its end; every late
	// element fires a late pane (default 10 minutes). Later elements go to the late output.
	AllowedLateness time.Duration
	// MaxOutOfOrderness is how far behind the newest event time an element may be and still
	// be on time: the source watermark trails the newest event by this much (default 5 s).
	MaxOutOfOrderness time.Duration
}

func (o Options) withDefaults() Options {
	if o.Window == 0 {
		o.Window = 2 * time.Minute
	}
	if o.EarlyEvery == 0 {
		o.EarlyEvery = 30 * time.Second
	}
	if o.AllowedLateness == 0 {
		o.AllowedLateness = 10 * time.Minute
	}
	if o.MaxOutOfOrderness == 0 {
		o.MaxOutOfOrderness = 5 * time.Second
	}
	return o
}

// TeamPane is one firing of one team's window: the team's total so far (accumulating), and
// when the pane fired relative to the watermark.
type TeamPane struct {
	Team   string
	Score  int64
	Window stream.Window
	Timing stream.Timing
	Index  int64 // the window's pane number, from 0
	Last   bool  // the window closed with this pane
}

func (p TeamPane) String() string {
	return fmt.Sprintf("%s..%s %-24s %6d  %-7s pane %d%s", p.Window.Start.Std().Format("15:04:05"),
		p.Window.End.Std().Format("15:04:05"), p.Team, p.Score, p.Timing, p.Index, map[bool]string{true: " (last)"}[p.Last])
}

// scoreSum sums the scores of game actions.
type scoreSum struct{}

func (scoreSum) Create() int64                          { return 0 }
func (scoreSum) Add(acc int64, a GameAction) int64      { return acc + a.Score }
func (scoreSum) Merge(a, b int64) int64                 { return a + b }
func (scoreSum) Extract(acc int64) int64                { return acc }
func (scoreSum) Subtract(acc int64, a GameAction) int64 { return acc - a.Score }

// TeamScores is the team half of Beam's LeaderBoard: per-team sums in fixed event-time
// windows, with
//   - early panes every EarlyEvery of processing time while the window is open (speculative
//     results),
//   - an on-time pane when the watermark passes the end of the window,
//   - a late pane for every late element, up to AllowedLateness after the window's end,
//
// accumulating: every pane holds the team's whole total for the window so far. It returns
// the panes and the elements that came too late even for the allowed lateness (never
// dropped silently).
func TeamScores(actions stream.Stream[GameAction], o Options) (panes stream.Stream[TeamPane], tooLate stream.Stream[stream.KV[string, GameAction]]) {
	o = o.withDefaults()
	byTeam := stream.KeyBy(actions, func(a GameAction) string { return a.Team }, stream.Named("teamscore.byTeam"))
	windowed := stream.WindowInto(byTeam, stream.FixedWindows(o.Window),
		stream.Triggering(stream.AfterWatermark().
			WithEarlyFirings(stream.AfterProcessingTime(o.EarlyEvery)).
			WithLateFirings(stream.AfterCount(1))),
		stream.AllowedLateness(o.AllowedLateness),
		stream.Accumulate(stream.Accumulating))
	sums := stream.CombinePerKey(windowed, scoreSum{}, stream.Named("teamscore.sum"))
	panes = stream.ParDo(sums, func(e stream.Elem[stream.KV[string, int64]], out *stream.Emitter[TeamPane]) error {
		out.Emit(TeamPane{Team: e.Value.Key, Score: e.Value.Value, Window: e.Window,
			Timing: e.Pane.Timing, Index: e.Pane.Index, Last: e.Pane.Last})
		return nil
	}, stream.Named("teamscore.pane"))
	return panes, stream.LateData(windowed)
}

// GameSource describes the topic of game actions: CSV record values (Format), event time
// from the action.
func GameSource(topic string, o Options) stream.Source[GameAction] {
	o = o.withDefaults()
	return stream.Source[GameAction]{
		Name:              "game-actions",
		Topic:             topic,
		Decode:            func(r *stream.Record) (GameAction, error) { return ParseGameAction(string(r.Value)) },
		Timestamp:         func(a GameAction, _ stream.Time) stream.Time { return stream.Time(a.Time) },
		MaxOutOfOrderness: o.MaxOutOfOrderness,
	}
}
