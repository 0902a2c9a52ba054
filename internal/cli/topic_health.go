package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Storage health in `samsa topic describe`. Kafka has no API for a replica's storage state,
// so a node serves it on its HTTP server at /api/storage (the node's own replicas: failed,
// disk full, damaged) and describe reads it when given --http-addr. It is the node's view:
// in a cluster, ask each node whose replicas matter.

// storageJSON is what /api/storage answers (metrics.StorageHealth).
type storageJSON struct {
	Partitions []partitionHealthJSON `json:"partitions"`
	Counts     map[string]int        `json:"counts"`
}

// partitionHealthJSON is one replica that is not healthy.
type partitionHealthJSON struct {
	Topic        string       `json:"topic,omitempty"`
	Partition    int32        `json:"partition"`
	State        string       `json:"state"`
	Error        string       `json:"error,omitempty"`
	CorruptBytes int64        `json:"corrupt_bytes"`
	Damage       []damageJSON `json:"damage,omitempty"`
}

type damageJSON struct {
	Segment     string `json:"segment"`
	Pos         int64  `json:"pos"`
	End         int64  `json:"end"`
	FirstOffset int64  `json:"first_offset"`
	LastOffset  int64  `json:"last_offset"`
	Quarantined string `json:"quarantined,omitempty"`
	Reason      string `json:"reason"`
}

// topicHealthJSON is the storage section of one described topic.
type topicHealthJSON struct {
	Node       string                `json:"node"`        // the --http-addr asked
	Unhealthy  []partitionHealthJSON `json:"unhealthy"`   // replicas on that node that are not ok
	NodeCounts map[string]int        `json:"node_counts"` // that node's replicas by state, all topics
}

// fetchStorage reads a node's /api/storage.
func fetchStorage(ctx context.Context, httpAddr string, timeout time.Duration) (*storageJSON, error) {
	base := httpAddr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/api/storage", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s: %s", req.URL, resp.Status, strings.TrimSpace(string(b)))
	}
	var h storageJSON
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&h); err != nil {
		return nil, fmt.Errorf("%s: %w", req.URL, err)
	}
	return &h, nil
}

// addTopicHealth fills the Storage section of descs from the node at httpAddr ("" = none).
func (a *app) addTopicHealth(ctx context.Context, httpAddr string, descs []topicDescribeJSON) error {
	if httpAddr == "" || len(descs) == 0 {
		return nil
	}
	h, err := fetchStorage(ctx, httpAddr, a.timeout)
	if err != nil {
		return fmt.Errorf("read storage health from --http-addr: %w", err)
	}
	for i := range descs {
		th := &topicHealthJSON{Node: httpAddr, Unhealthy: []partitionHealthJSON{}, NodeCounts: h.Counts}
		for _, p := range h.Partitions {
			if p.Topic == descs[i].Name {
				p.Topic = ""
				th.Unhealthy = append(th.Unhealthy, p)
			}
		}
		descs[i].Storage = th
	}
	return nil
}

// printTopicHealth writes the Storage section of d (nothing without --http-addr).
func printTopicHealth(out io.Writer, d topicDescribeJSON) {
	h := d.Storage
	if h == nil {
		return
	}
	if len(h.Unhealthy) == 0 {
		fmt.Fprintf(out, "Storage (node %s): all replicas ok\n", h.Node)
		return
	}
	fmt.Fprintf(out, "Storage (node %s):\n", h.Node)
	tb := newTable(out, "PARTITION", "STATE", "CORRUPT-BYTES", "DETAIL")
	for _, p := range h.Unhealthy {
		detail := p.Error
		for _, dm := range p.Damage {
			if detail != "" {
				detail += "; "
			}
			where := fmt.Sprintf("%s [%d, %d)", dm.Segment, dm.Pos, dm.End)
			if dm.End < 0 {
				where = fmt.Sprintf("%s [%d, end)", dm.Segment, dm.Pos)
			}
			if dm.Quarantined != "" {
				where += " moved to " + dm.Quarantined
			}
			detail += where + ": " + dm.Reason
		}
		tb.row(itoa(p.Partition), p.State, fmt.Sprint(p.CorruptBytes), detail)
	}
	tb.flush()
}
