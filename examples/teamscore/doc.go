// Package main is the teamscore example (see main.go for how to run it).
//
// The model: game actions are keyed by team and summed in fixed two-minute event-time
// windows. The trigger answers "when" three ways: early panes a processing-time delay after
// the first action since the window's previous pane (speculative totals while the window is
// open), the on-time pane when the watermark passes the end of the window, and one late pane
// per late action while the window is within its allowed lateness. Panes accumulate, so each
// one carries the team's full total for the window so far; an action later than the allowed
// lateness goes to the too-late output instead of a pane.
//
// TeamScores is the pipeline, GameSource the topic it reads, Run a single-task Kafka driver
// for it, and Injector/Inject a generator of game actions with a share of late ones.
package main
