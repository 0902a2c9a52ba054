package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/placement"
)

// The `samsa partition` commands move partition replicas between brokers with Kafka's
// AlterPartitionReassignments and ListPartitionReassignments (KIP-455), so they work against
// any Kafka cluster: reassign (a plan in kafka-reassign-partitions' JSON format, or flags),
// cancel, status with progress, and balance (a plan from internal/placement over the live
// brokers and their racks).

func (a *app) partitionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "partition",
		Short: "Move partition replicas between brokers: reassign, cancel, status, balance",
		Example: `  samsa partition reassign --topic orders --partition 0 --replicas 2,3,4 --wait
  samsa partition reassign --plan plan.json
  samsa partition reassign --status
  samsa partition reassign --cancel --plan plan.json
  samsa partition balance
  samsa partition balance --execute --wait`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(a.partitionReassignCmd(), a.partitionBalanceCmd())
	return cmd
}

// reassignPlan is kafka-reassign-partitions' JSON plan (its --reassignment-json-file).
type reassignPlan struct {
	Version    int             `json:"version"`
	Partitions []planPartition `json:"partitions"`
}

type planPartition struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// parsePlan reads a reassignment plan: version 1, each partition named once with a
// replica list; log_dirs, if given, must all be "any" (a broker has one log directory).
func parsePlan(data []byte) ([]planPartition, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p reassignPlan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if p.Version != 1 {
		return nil, fmt.Errorf("plan: version %d, want 1", p.Version)
	}
	if len(p.Partitions) == 0 {
		return nil, errors.New("plan: no partitions")
	}
	seen := map[string]bool{}
	for _, pp := range p.Partitions {
		k := pp.Topic + "-" + strconv.Itoa(int(pp.Partition))
		switch {
		case pp.Topic == "":
			return nil, errors.New("plan: a partition without a topic")
		case pp.Partition < 0:
			return nil, fmt.Errorf("plan: %s: negative partition", k)
		case seen[k]:
			return nil, fmt.Errorf("plan: %s listed twice", k)
		case len(pp.Replicas) == 0:
			return nil, fmt.Errorf("plan: %s: no replicas", k)
		case len(pp.LogDirs) > 0 && len(pp.LogDirs) != len(pp.Replicas):
			return nil, fmt.Errorf("plan: %s: %d log_dirs for %d replicas", k, len(pp.LogDirs), len(pp.Replicas))
		}
		for _, d := range pp.LogDirs {
			if d != "any" {
				return nil, fmt.Errorf("plan: %s: log_dirs %q: moving replicas between log directories is not supported (use \"any\")", k, d)
			}
		}
		seen[k] = true
	}
	return p.Partitions, nil
}

func (a *app) partitionReassignCmd() *cobra.Command {
	var (
		planFile, topic, replicas, output string
		part                              int32
		cancel, status, wait              bool
		maxWait                           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "reassign",
		Short: "Move partitions to other brokers, cancel moves, or show the moves in progress",
		Long: `Start moving partitions to new replica lists (AlterPartitionReassignments): the
new replicas copy the log from the leader, join the ISR once caught up, then the
old ones are dropped (leadership moves first if the leader is dropped). Nothing
is lost and the partition stays available throughout.

The plan is kafka-reassign-partitions' JSON (--plan FILE, "-" for stdin):
  {"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[2,3,4]}]}
or one partition with --topic, --partition and --replicas.

--cancel cancels the moves of the named partitions (back to their original
replicas). --status lists every move in progress with its progress: how many
of the target replicas are in sync. --wait waits until the named moves (with
--status: all moves) are done, printing progress, for at most --max-wait.`,
		Example: `  samsa partition reassign --topic orders --partition 0 --replicas 2,3,4 --wait
  samsa partition reassign --plan plan.json
  samsa partition reassign --status
  samsa partition reassign --cancel --topic orders --partition 0`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			sel, err := a.planFromFlags(cmd, planFile, topic, part, replicas, cancel, status)
			if err != nil {
				return err
			}
			cl, err := a.newClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			out := cmd.OutOrStdout()
			if !status {
				if err := a.alterReassignments(cmd.Context(), cl, out, sel, cancel); err != nil {
					return err
				}
			}
			if wait {
				var keys []partKey
				for _, p := range sel {
					keys = append(keys, partKey{p.Topic, p.Partition})
				}
				if err := a.waitMoves(cmd.Context(), cl, out, keys, maxWait); err != nil {
					return err
				}
			}
			if status || wait {
				st, err := a.reassignStatus(cmd.Context(), cl)
				if err != nil {
					return err
				}
				return printMoves(out, st, jsonOut)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&planFile, "plan", "", "reassignment plan, kafka-reassign-partitions' JSON (\"-\": stdin)")
	f.StringVar(&topic, "topic", "", "the topic of the one partition to move")
	f.Int32Var(&part, "partition", -1, "the partition to move (with --topic)")
	f.StringVar(&replicas, "replicas", "", "the new replica list, preferred leader first, e.g. 2,3,4 (with --topic)")
	f.BoolVar(&cancel, "cancel", false, "cancel the moves of the named partitions")
	f.BoolVar(&status, "status", false, "list the moves in progress and their progress")
	f.BoolVar(&wait, "wait", false, "wait until the moves are done, printing progress")
	f.DurationVar(&maxWait, "max-wait", 30*time.Minute, "how long --wait waits at most")
	f.StringVarP(&output, "output", "o", "text", "output format of --status: text or json")
	cmd.MarkFlagsMutuallyExclusive("plan", "topic")
	cmd.MarkFlagsMutuallyExclusive("status", "cancel")
	return cmd
}

// planFromFlags returns the partitions named by --plan or --topic/--partition/--replicas.
func (a *app) planFromFlags(cmd *cobra.Command, planFile, topic string, part int32, replicas string, cancel, status bool) ([]planPartition, error) {
	switch {
	case planFile != "":
		var data []byte
		var err error
		if planFile == "-" {
			data, err = io.ReadAll(cmd.InOrStdin())
		} else {
			data, err = os.ReadFile(planFile)
		}
		if err != nil {
			return nil, fmt.Errorf("read plan: %w", err)
		}
		ps, err := parsePlan(data)
		if err != nil {
			return nil, usagef("%v", err)
		}
		return ps, nil
	case topic != "":
		if part < 0 {
			return nil, usagef("--topic needs --partition")
		}
		p := planPartition{Topic: topic, Partition: part}
		if replicas == "" && !cancel {
			return nil, usagef("--topic needs --replicas (or --cancel)")
		}
		if replicas != "" {
			for _, s := range strings.Split(replicas, ",") {
				id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
				if err != nil {
					return nil, usagef("--replicas %q: want broker ids like 1,2,3", replicas)
				}
				p.Replicas = append(p.Replicas, int32(id))
			}
		}
		return []planPartition{p}, nil
	case status:
		return nil, nil
	}
	return nil, usagef("name the partitions with --plan or --topic/--partition/--replicas, or use --status")
}

// alterReassignments starts (or cancels) the moves of parts and prints each partition's
// answer; it fails if any partition was refused.
func (a *app) alterReassignments(ctx context.Context, cl *kgo.Client, out io.Writer, parts []planPartition, cancel bool) error {
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(a.timeout, time.Hour).Milliseconds()))
	req := kadm.AlterPartitionAssignmentsReq{}
	for _, p := range parts {
		if cancel {
			req.CancelAssign(p.Topic, p.Partition)
		} else {
			req.Assign(p.Topic, p.Partition, p.Replicas)
		}
	}
	octx, done := a.opCtx(ctx)
	defer done()
	res, err := adm.AlterPartitionAssignments(octx, req)
	if err != nil {
		return a.explain("alter partition reassignments", err)
	}
	failed := 0
	tb := newTable(out, "TOPIC", "PARTITION", "REPLICAS", "RESULT")
	for _, r := range res.Sorted() {
		result := "started"
		if cancel {
			result = "cancelled"
		}
		if r.Err != nil {
			failed++
			result = "error: " + r.Err.Error()
			if r.ErrMessage != "" {
				result += ": " + r.ErrMessage
			}
		}
		var reps []int32
		for _, p := range parts {
			if p.Topic == r.Topic && p.Partition == r.Partition {
				reps = p.Replicas
			}
		}
		tb.row(r.Topic, itoa(r.Partition), replicaCol(reps), result)
	}
	if err := tb.flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d partitions refused", failed, len(res.Sorted()))
	}
	return nil
}

type partKey struct {
	Topic     string
	Partition int32
}

// moveStatus is one partition's move in progress.
type moveStatus struct {
	Topic            string  `json:"topic"`
	Partition        int32   `json:"partition"`
	Replicas         []int32 `json:"replicas"`
	AddingReplicas   []int32 `json:"adding_replicas"`
	RemovingReplicas []int32 `json:"removing_replicas"`
	Target           []int32 `json:"target"`
	Leader           int32   `json:"leader"`
	ISR              []int32 `json:"isr"`
	// InSync counts the target replicas in the ISR: the move completes at len(Target).
	InSync int `json:"in_sync"`
}

// reassignStatus lists every move in progress (ListPartitionReassignments) with the leader
// and ISR of each partition (a fresh Metadata request).
func (a *app) reassignStatus(ctx context.Context, cl *kgo.Client) ([]moveStatus, error) {
	octx, done := a.opCtx(ctx)
	defer done()
	lresp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(octx, cl)
	if err != nil {
		return nil, a.explain("list partition reassignments", err)
	}
	if err := kerr.ErrorForCode(lresp.ErrorCode); err != nil {
		return nil, fmt.Errorf("list partition reassignments: %w: %s", err, deref(lresp.ErrorMessage))
	}
	if len(lresp.Topics) == 0 {
		return []moveStatus{}, nil
	}
	mreq := kmsg.NewPtrMetadataRequest()
	for _, t := range lresp.Topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t.Topic)
		mreq.Topics = append(mreq.Topics, rt)
	}
	mresp, err := mreq.RequestWith(octx, cl)
	if err != nil {
		return nil, a.explain("metadata", err)
	}
	type li struct {
		leader int32
		isr    []int32
	}
	state := map[partKey]li{}
	for _, t := range mresp.Topics {
		for _, p := range t.Partitions {
			state[partKey{deref(t.Topic), p.Partition}] = li{p.Leader, p.ISR}
		}
	}
	out := []moveStatus{}
	for _, t := range lresp.Topics {
		for _, p := range t.Partitions {
			ms := moveStatus{Topic: t.Topic, Partition: p.Partition, Replicas: nonNil(p.Replicas),
				AddingReplicas: nonNil(p.AddingReplicas), RemovingReplicas: nonNil(p.RemovingReplicas), Leader: -1}
			for _, r := range p.Replicas {
				if !slices.Contains(p.RemovingReplicas, r) {
					ms.Target = append(ms.Target, r)
				}
			}
			if s, ok := state[partKey{t.Topic, p.Partition}]; ok {
				ms.Leader, ms.ISR = s.leader, nonNil(s.isr)
			}
			for _, r := range ms.Target {
				if slices.Contains(ms.ISR, r) {
					ms.InSync++
				}
			}
			out = append(out, ms)
		}
	}
	slices.SortFunc(out, func(x, y moveStatus) int {
		if c := strings.Compare(x.Topic, y.Topic); c != 0 {
			return c
		}
		return int(x.Partition - y.Partition)
	})
	return out, nil
}

func printMoves(out io.Writer, st []moveStatus, jsonOut bool) error {
	if jsonOut {
		return writeJSON(out, st)
	}
	if len(st) == 0 {
		fmt.Fprintln(out, "No reassignment in progress.")
		return nil
	}
	tb := newTable(out, "TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING", "LEADER", "ISR", "TARGET-IN-SYNC")
	for _, m := range st {
		tb.row(m.Topic, itoa(m.Partition), replicaCol(m.Replicas), replicaCol(m.AddingReplicas), replicaCol(m.RemovingReplicas),
			nodeCol(m.Leader), replicaCol(m.ISR), fmt.Sprintf("%d/%d", m.InSync, len(m.Target)))
	}
	return tb.flush()
}

// waitMoves waits until none of keys (all moves when keys is empty) is in progress, printing
// a progress line whenever it changes, for at most maxWait.
func (a *app) waitMoves(ctx context.Context, cl *kgo.Client, out io.Writer, keys []partKey, maxWait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	last := ""
	for {
		st, err := a.reassignStatus(ctx, cl)
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(out, "status: %v (retrying)\n", err)
		}
		if err == nil {
			var pending []moveStatus
			for _, m := range st {
				if len(keys) == 0 || slices.Contains(keys, partKey{m.Topic, m.Partition}) {
					pending = append(pending, m)
				}
			}
			if len(pending) == 0 {
				fmt.Fprintln(out, "All moves done.")
				return nil
			}
			line := progressLine(pending)
			if line != last {
				fmt.Fprintf(out, "%s %s\n", time.Now().Format("15:04:05"), line)
				last = line
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("moves still in progress after %v (they continue; see samsa partition reassign --status): %s", maxWait, last)
			}
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// progressLine summarizes the moves in progress: how many, target replicas in sync, and the
// first few partitions still waiting.
func progressLine(pending []moveStatus) string {
	in, total := 0, 0
	var names []string
	for _, m := range pending {
		in += m.InSync
		total += len(m.Target)
		if len(names) < 3 {
			names = append(names, fmt.Sprintf("%s-%d (adding %s, %d/%d in sync)", m.Topic, m.Partition,
				replicaCol(m.AddingReplicas), m.InSync, len(m.Target)))
		}
	}
	s := fmt.Sprintf("%d moves in progress, %d/%d target replicas in sync: %s", len(pending), in, total, strings.Join(names, ", "))
	if len(pending) > len(names) {
		s += ", …"
	}
	return s
}

// clusterLayout reads the brokers (with racks, DescribeCluster) and every partition's
// replica list (Metadata; a partition being moved counts with its target list).
func (a *app) clusterLayout(ctx context.Context, cl *kgo.Client) ([]placement.Broker, []placement.Partition, []moveStatus, error) {
	octx, done := a.opCtx(ctx)
	defer done()
	dresp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(octx, cl)
	if err != nil {
		return nil, nil, nil, a.explain("describe cluster", err)
	}
	if err := kerr.ErrorForCode(dresp.ErrorCode); err != nil {
		return nil, nil, nil, fmt.Errorf("describe cluster: %w", err)
	}
	var brokers []placement.Broker
	for _, b := range dresp.Brokers {
		brokers = append(brokers, placement.Broker{ID: b.NodeID, Rack: deref(b.Rack)})
	}
	slices.SortFunc(brokers, func(x, y placement.Broker) int { return int(x.ID - y.ID) })
	moves, err := a.reassignStatus(ctx, cl)
	if err != nil {
		return nil, nil, nil, err
	}
	target := map[partKey][]int32{}
	for _, m := range moves {
		target[partKey{m.Topic, m.Partition}] = m.Target
	}
	mresp, err := kmsg.NewPtrMetadataRequest().RequestWith(octx, cl)
	if err != nil {
		return nil, nil, nil, a.explain("metadata", err)
	}
	var parts []placement.Partition
	for _, t := range mresp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, nil, nil, fmt.Errorf("metadata of %s: %w", deref(t.Topic), err)
		}
		for _, p := range t.Partitions {
			reps := p.Replicas
			if tg, ok := target[partKey{deref(t.Topic), p.Partition}]; ok {
				reps = tg
			}
			parts = append(parts, placement.Partition{Topic: deref(t.Topic), Partition: p.Partition, Replicas: slices.Clone(reps)})
		}
	}
	slices.SortFunc(parts, func(x, y placement.Partition) int {
		if c := strings.Compare(x.Topic, y.Topic); c != 0 {
			return c
		}
		return int(x.Partition - y.Partition)
	})
	return brokers, parts, moves, nil
}

// printPlan prints a plan as a table (current → new) or as a reassignment JSON plan.
func printPlan(out io.Writer, current []placement.Partition, plan []placement.Partition, jsonOut bool) error {
	if jsonOut {
		p := reassignPlan{Version: 1, Partitions: []planPartition{}}
		for _, pp := range plan {
			p.Partitions = append(p.Partitions, planPartition{Topic: pp.Topic, Partition: pp.Partition, Replicas: pp.Replicas})
		}
		return writeJSON(out, p)
	}
	if len(plan) == 0 {
		fmt.Fprintln(out, "Nothing to move.")
		return nil
	}
	cur := map[partKey][]int32{}
	for _, c := range current {
		cur[partKey{c.Topic, c.Partition}] = c.Replicas
	}
	tb := newTable(out, "TOPIC", "PARTITION", "CURRENT", "NEW")
	for _, pp := range plan {
		tb.row(pp.Topic, itoa(pp.Partition), replicaCol(cur[partKey{pp.Topic, pp.Partition}]), replicaCol(pp.Replicas))
	}
	return tb.flush()
}

func toPlanPartitions(plan []placement.Partition) []planPartition {
	out := make([]planPartition, 0, len(plan))
	for _, p := range plan {
		out = append(out, planPartition{Topic: p.Topic, Partition: p.Partition, Replicas: p.Replicas})
	}
	return out
}

func (a *app) partitionBalanceCmd() *cobra.Command {
	var (
		execute, wait bool
		output        string
		maxWait       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "balance",
		Short: "Plan (and with --execute start) moves that spread replicas and leaders evenly",
		Long: `Plan where every partition's replicas should live so that each partition is on as
many racks (broker.rack) as it has replicas, replica counts per broker are
within one of each other, and preferred leaders too. The plan keeps what it
can: it moves only what these goals need, reordering replicas (which moves no
data) for leaders. It is printed (-o json: a plan for samsa partition reassign
--plan and kafka-reassign-partitions); --execute starts it and --wait waits
until it is done. Moves in progress count with their target.

A partition whose preferred leader changed but whose replicas did not keeps its
leader until a preferred-leader election (ElectLeaders, kafka-leader-election.sh).`,
		Example: `  samsa partition balance
  samsa partition balance -o json > plan.json
  samsa partition balance --execute --wait`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			cl, err := a.newClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			brokers, parts, _, err := a.clusterLayout(cmd.Context(), cl)
			if err != nil {
				return err
			}
			plan, err := placement.Plan(brokers, parts)
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			out := cmd.OutOrStdout()
			if err := printPlan(out, parts, plan, jsonOut && !execute); err != nil {
				return err
			}
			if !execute || len(plan) == 0 {
				return nil
			}
			if err := a.alterReassignments(cmd.Context(), cl, out, toPlanPartitions(plan), false); err != nil {
				return err
			}
			if !wait {
				return nil
			}
			var keys []partKey
			for _, p := range plan {
				keys = append(keys, partKey{p.Topic, p.Partition})
			}
			return a.waitMoves(cmd.Context(), cl, out, keys, maxWait)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&execute, "execute", false, "start the planned moves")
	f.BoolVar(&wait, "wait", false, "with --execute: wait until the moves are done, printing progress")
	f.DurationVar(&maxWait, "max-wait", 30*time.Minute, "how long --wait waits at most")
	f.StringVarP(&output, "output", "o", "text", "output format of the plan: text or json (a reassignment plan)")
	return cmd
}
