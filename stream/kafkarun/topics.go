package kafkarun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicWait bounds how long an instance waits for a topic another instance is creating to
// show all its partitions.
const topicWait = 30 * time.Second

// ensureTopic creates an internal topic (changelog or repartition) with partitions
// partitions and configs, or, if it exists, returns its description once every partition is
// visible with a leader. Instances of one application may start at the same moment: the one
// whose CreateTopics loses the race gets TOPIC_ALREADY_EXISTS while the winner's topic may
// not show its partitions in metadata yet, so the loser waits (up to topicWait) for them
// instead of judging a half-created topic. It returns the topic's id and partition count,
// and whether this call created it.
func (a *App) ensureTopic(ctx context.Context, topic string, partitions int32, configs map[string]*string) (id [16]byte, n int32, created bool, err error) {
	resp, err := a.adm.CreateTopic(ctx, partitions, a.cfg.ReplicationFactor, configs, topic)
	switch {
	case err == nil:
		return resp.ID, resp.NumPartitions, true, nil
	case !errors.Is(err, kerr.TopicAlreadyExists):
		return id, 0, false, fmt.Errorf("kafkarun: create topic %s: %w", topic, err)
	}
	deadline := time.Now().Add(topicWait)
	for {
		md, err := a.adm.ListTopics(ctx, topic)
		if err != nil {
			return id, 0, false, fmt.Errorf("kafkarun: metadata of %s: %w", topic, err)
		}
		d := md[topic]
		if d.Err == nil && len(d.Partitions) > 0 && leadersKnown(d) {
			return d.ID, int32(len(d.Partitions)), false, nil
		}
		if time.Now().After(deadline) {
			return id, 0, false, fmt.Errorf("kafkarun: topic %s exists but shows %d partitions with leaders after %v (%v)",
				topic, len(d.Partitions), topicWait, d.Err)
		}
		select {
		case <-ctx.Done():
			return id, 0, false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func leadersKnown(d kadm.TopicDetail) bool {
	for _, p := range d.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}
