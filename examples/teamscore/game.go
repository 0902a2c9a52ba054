package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// GameAction is one scoring event of the mobile game in Beam's examples: a user of a team
// scored points at an event time (Beam's GameActionInfo).
type GameAction struct {
	User  string
	Team  string
	Score int64
	Time  int64 // event time, ms since the Unix epoch
}

// ErrBadRecord is wrapped by ParseGameAction's errors.
var ErrBadRecord = errors.New("teamscore: bad game record")

// Format renders a as the CSV line Beam's injector writes: user,team,score,timestamp_ms,
// readable time (the last field is for people and is ignored when parsing).
func (a GameAction) Format() string {
	return fmt.Sprintf("%s,%s,%d,%d,%s", a.User, a.Team, a.Score, a.Time,
		time.UnixMilli(a.Time).UTC().Format("2006-01-02 15:04:05.000"))
}

// ParseGameAction parses a line written by Format (four or five comma-separated fields).
func ParseGameAction(line string) (GameAction, error) {
	f := strings.Split(strings.TrimSpace(line), ",")
	if len(f) != 4 && len(f) != 5 {
		return GameAction{}, fmt.Errorf("%w: %d fields in %q, want user,team,score,timestamp_ms[,readable]", ErrBadRecord, len(f), line)
	}
	if f[0] == "" || f[1] == "" {
		return GameAction{}, fmt.Errorf("%w: empty user or team in %q", ErrBadRecord, line)
	}
	score, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return GameAction{}, fmt.Errorf("%w: score %q: %w", ErrBadRecord, f[2], err)
	}
	ts, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return GameAction{}, fmt.Errorf("%w: timestamp %q: %w", ErrBadRecord, f[3], err)
	}
	return GameAction{User: f[0], Team: f[1], Score: score, Time: ts}, nil
}

// Injector makes a stream of game actions like Beam's mobile-gaming Injector: a fixed set of
// teams with a few users each, scores from 1 to 20, event times near "now", and a fraction of
// actions that reach the pipeline late (their event time lies minutes in the past, as from a
// phone that was offline).
type Injector struct {
	rng   *rand.Rand
	teams []string
	users [][]string
	// LateFraction of the actions are late by LateMin..LateMax (defaults 0.05, 1 and 8
	// minutes); TooLateFraction are later than the allowed lateness (default 0.005, 15 min).
	LateFraction    float64
	LateMin         time.Duration
	LateMax         time.Duration
	TooLateFraction float64
	TooLate         time.Duration
}

var (
	colors  = []string{"Magenta", "AliceBlue", "Almond", "Amaranth", "Amber", "Amethyst", "AndroidGreen", "AntiqueBrass", "Fuchsia", "Ruby", "AppleGreen", "Apricot", "Aqua", "ArmyGreen", "Asparagus", "Auburn", "Azure", "Banana", "Beige", "Bisque", "BarnRed", "BattleshipGrey"}
	animals = []string{"Echidna", "Koala", "Wombat", "Marmot", "Quokka", "Kangaroo", "Dingo", "Numbat", "Emu", "Wallaby", "CaneToad", "Bilby", "Possum", "Cassowary", "Kookaburra", "Platypus", "Bandicoot", "Cockatoo", "Antechinus"}
)

// NewInjector returns an injector over numTeams teams (at least 1) seeded with seed, so that a
// seed always yields the same sequence.
func NewInjector(numTeams int, seed uint64) *Injector {
	numTeams = max(numTeams, 1)
	in := &Injector{
		rng:             rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		LateFraction:    0.05,
		LateMin:         time.Minute,
		LateMax:         8 * time.Minute,
		TooLateFraction: 0.005,
		TooLate:         15 * time.Minute,
	}
	for i := 0; i < numTeams; i++ {
		team := colors[i%len(colors)] + animals[(i/len(colors)+i)%len(animals)]
		if i >= len(colors)*len(animals) {
			team += strconv.Itoa(i)
		}
		in.teams = append(in.teams, team)
		var users []string
		for u := 0; u < 3+in.rng.IntN(10); u++ {
			users = append(users, fmt.Sprintf("user%d_%s", u, team))
		}
		in.users = append(in.users, users)
	}
	return in
}

// Next returns an action happening at now (or, for late ones, before it).
func (in *Injector) Next(now time.Time) GameAction {
	t := in.rng.IntN(len(in.teams))
	u := in.users[t][in.rng.IntN(len(in.users[t]))]
	ts := now
	switch p := in.rng.Float64(); {
	case p < in.TooLateFraction:
		ts = now.Add(-in.TooLate)
	case p < in.TooLateFraction+in.LateFraction:
		span := int64(in.LateMax - in.LateMin)
		ts = now.Add(-in.LateMin - time.Duration(in.rng.Int64N(max(span, 1))))
	}
	return GameAction{User: u, Team: in.teams[t], Score: 1 + in.rng.Int64N(20), Time: ts.UnixMilli()}
}
