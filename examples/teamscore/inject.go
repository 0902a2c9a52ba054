package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Inject produces rate game actions per second to the topic until ctx ends, keyed by user.
// Late actions carry event times minutes in the past (see Injector); the record timestamp is
// the send time.
func Inject(ctx context.Context, cl *kgo.Client, topic string, in *Injector, rate int) error {
	if rate <= 0 {
		return fmt.Errorf("teamscore: injection rate %d must be positive", rate)
	}
	interval := time.Second / time.Duration(rate)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	errs := make(chan error, 1)
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return cl.Flush(flushCtx)
		case err := <-errs:
			return fmt.Errorf("teamscore: produce: %w", err)
		case <-timer.C:
		}
		now := time.Now()
		for !next.After(now) {
			a := in.Next(now)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(a.User), Value: []byte(a.Format()), Timestamp: now},
				func(_ *kgo.Record, err error) {
					if err != nil && ctx.Err() == nil {
						select {
						case errs <- err:
						default:
						}
					}
				})
			next = next.Add(interval)
		}
		timer.Reset(time.Until(next))
	}
}
