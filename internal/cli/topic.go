package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (a *app) topicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
		Example: `  samsa topic create orders --partitions 6 --config retention.ms=86400000
  samsa topic list
  samsa topic describe orders
  samsa topic alter orders --partitions 12 --config cleanup.policy=compact
  samsa topic delete orders`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(a.topicCreateCmd(), a.topicListCmd(), a.topicDescribeCmd(), a.topicAlterCmd(), a.topicDeleteCmd())
	return cmd
}

// errorList joins per-item failures into one error, or nil.
type errorList []error

func (l errorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return fmt.Errorf("%d failures: %w", len(l), errors.Join(l...))
}

func (a *app) topicCreateCmd() *cobra.Command {
	var (
		partitions   int32
		replication  int16
		configs      []string
		ifNotExists  bool
		validateOnly bool
		assignment   string
	)
	cmd := &cobra.Command{
		Use:   "create NAME...",
		Short: "Create topics",
		Long: `Create topics. Partitions and replication factor default to the broker's
defaults (num.partitions, default.replication.factor). --config sets topic
configs such as retention.ms, cleanup.policy, max.message.bytes.
--replica-assignment places each partition's replicas explicitly, as
kafka-topics does: partitions separated by commas, each a colon-separated
list of broker ids, the first the preferred leader ("1:2:3,2:3:1" is two
partitions of three replicas); it replaces --partitions and
--replication-factor.`,
		Example: `  samsa topic create orders --partitions 6 --replication-factor 3
  samsa topic create pinned --replica-assignment 1:2:3,2:3:1,3:1:2
  samsa topic create users --config cleanup.policy=compact --if-not-exists
  samsa topic create t --partitions 3 --validate-only`,
		Args: minArgs(1, "topic names"),
		RunE: func(cmd *cobra.Command, names []string) error {
			if partitions == 0 || partitions < -1 {
				return usagef("--partitions %d: want ≥ 1 (or -1 for the broker default)", partitions)
			}
			if replication == 0 || replication < -1 {
				return usagef("--replication-factor %d: want ≥ 1 (or -1 for the broker default)", replication)
			}
			cfg := make(map[string]*string, len(configs))
			for _, c := range configs {
				k, v, err := parseKV("config", c)
				if err != nil {
					return err
				}
				cfg[k] = &v
			}
			if assignment != "" {
				if cmd.Flags().Changed("partitions") || cmd.Flags().Changed("replication-factor") {
					return usagef("--replica-assignment replaces --partitions and --replication-factor: give one or the other")
				}
				assign, err := parseAssignment(assignment)
				if err != nil {
					return err
				}
				return a.createAssigned(cmd, names, assign, cfg, ifNotExists, validateOnly)
			}
			adm, err := a.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			create := adm.CreateTopics
			if validateOnly {
				create = adm.ValidateCreateTopics
			}
			resps, err := create(ctx, partitions, replication, cfg, names...)
			if err != nil {
				return a.explain("create topics", err)
			}
			out := cmd.OutOrStdout()
			var errs errorList
			for _, name := range names {
				r, ok := resps[name]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("create topic %s: no answer for it", name))
				case r.Err != nil && ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists):
					fmt.Fprintf(out, "Topic %s already exists.\n", name)
				case r.Err != nil:
					errs = append(errs, fmt.Errorf("create topic %s: %w%s", name, r.Err, errDetail(r.ErrMessage)))
				case validateOnly:
					fmt.Fprintf(out, "Topic %s is valid (%s partitions, replication factor %s); not created (--validate-only).\n",
						name, countOrDefault(r.NumPartitions), countOrDefault(int32(r.ReplicationFactor)))
				default:
					fmt.Fprintf(out, "Created topic %s (%s partitions, replication factor %s).\n",
						name, countOrDefault(r.NumPartitions), countOrDefault(int32(r.ReplicationFactor)))
				}
			}
			return errs.err()
		},
	}
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: broker default)")
	f.Int16VarP(&replication, "replication-factor", "r", -1, "replicas per partition (-1: broker default)")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic config KEY=VALUE (repeatable)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed if the topic already exists")
	f.BoolVar(&validateOnly, "validate-only", false, "ask the broker to validate the request without creating anything")
	f.StringVar(&assignment, "replica-assignment", "", "explicit replicas per partition, e.g. 1:2:3,2:3:1 (replaces --partitions, --replication-factor)")
	return cmd
}

// parseAssignment parses kafka-topics' --replica-assignment: "1:2:3,2:3:1".
func parseAssignment(s string) ([][]int32, error) {
	var out [][]int32
	for part := range strings.SplitSeq(s, ",") {
		var replicas []int32
		for id := range strings.SplitSeq(strings.TrimSpace(part), ":") {
			n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 32)
			if err != nil || n < 0 {
				return nil, usagef("--replica-assignment %q: %q is not a broker id", s, id)
			}
			if slices.Contains(replicas, int32(n)) {
				return nil, usagef("--replica-assignment %q: broker %d twice in partition %d", s, n, len(out))
			}
			replicas = append(replicas, int32(n))
		}
		if len(out) > 0 && len(replicas) != len(out[0]) {
			return nil, usagef("--replica-assignment %q: partition %d has %d replicas, partition 0 has %d", s, len(out), len(replicas), len(out[0]))
		}
		out = append(out, replicas)
	}
	return out, nil
}

// createAssigned sends CreateTopics with explicit replica assignments (kadm has no call
// for them).
func (a *app) createAssigned(cmd *cobra.Command, names []string, assign [][]int32, cfg map[string]*string, ifNotExists, validateOnly bool) error {
	cl, err := a.newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := a.opCtx(cmd.Context())
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(min(a.timeout, time.Hour).Milliseconds())
	req.ValidateOnly = validateOnly
	for _, name := range names {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = name, -1, -1
		for i, replicas := range assign {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(i), replicas
			t.ReplicaAssignment = append(t.ReplicaAssignment, ra)
		}
		for k, v := range cfg {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, v
			t.Configs = append(t.Configs, c)
		}
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return a.explain("create topics", err)
	}
	out := cmd.OutOrStdout()
	var errs errorList
	answered := map[string]bool{}
	for _, t := range resp.Topics {
		answered[t.Topic] = true
		err := kerr.ErrorForCode(t.ErrorCode)
		switch {
		case err != nil && ifNotExists && errors.Is(err, kerr.TopicAlreadyExists):
			fmt.Fprintf(out, "Topic %s already exists.\n", t.Topic)
		case err != nil:
			errs = append(errs, fmt.Errorf("create topic %s: %w%s", t.Topic, err, errDetail(deref(t.ErrorMessage))))
		case validateOnly:
			fmt.Fprintf(out, "Topic %s is valid (%d partitions, replicas %s); not created (--validate-only).\n", t.Topic, len(assign), assignmentString(assign))
		default:
			fmt.Fprintf(out, "Created topic %s (%d partitions, replicas %s).\n", t.Topic, len(assign), assignmentString(assign))
		}
	}
	for _, n := range names {
		if !answered[n] {
			errs = append(errs, fmt.Errorf("create topic %s: no answer for it", n))
		}
	}
	return errs.err()
}

func assignmentString(assign [][]int32) string {
	parts := make([]string, len(assign))
	for i, r := range assign {
		ids := make([]string, len(r))
		for j, id := range r {
			ids[j] = itoa(id)
		}
		parts[i] = strings.Join(ids, ":")
	}
	return strings.Join(parts, ",")
}

// countOrDefault prints a count a broker may not report (older versions
// answer -1).
func countOrDefault(n int32) string {
	if n < 0 {
		return "default"
	}
	return itoa(n)
}

// errDetail formats a broker's optional error message.
func errDetail(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

type topicListJSON struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
}

func (a *app) topicListCmd() *cobra.Command {
	var (
		internal bool
		output   string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Example: `  samsa topic list
  samsa topic list --internal -o json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			adm, err := a.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			topics, err := adm.ListTopicsWithInternal(ctx)
			if err != nil {
				return a.explain("list topics", err)
			}
			rows := make([]topicListJSON, 0, len(topics))
			for _, t := range topics.Sorted() {
				if t.IsInternal && !internal {
					continue
				}
				rows = append(rows, topicListJSON{
					Name:              t.Topic,
					ID:                topicID(t.ID),
					Partitions:        len(t.Partitions),
					ReplicationFactor: t.Partitions.NumReplicas(),
					Internal:          t.IsInternal,
				})
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return writeJSON(out, rows)
			}
			tb := newTable(out, "NAME", "PARTITIONS", "REPLICATION", "INTERNAL")
			for _, r := range rows {
				tb.row(r.Name, itoa(r.Partitions), itoa(r.ReplicationFactor), fmt.Sprint(r.Internal))
			}
			return tb.flush()
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets, …)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// topicID formats a topic ID as Kafka's tools do (Uuid.toString: URL-safe base64 without
// padding, e.g. "vXm4uPzcRlO1C5TMnXIqSQ"), or "" when the broker sent none.
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

type partitionJSON struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	// OfflineReplicas are replicas on brokers that are down.
	OfflineReplicas []int32 `json:"offline_replicas"`
	LogStartOffset  int64   `json:"log_start_offset"`
	LogEndOffset    int64   `json:"log_end_offset"`
	Error           string  `json:"error,omitempty"`
}

type topicDescribeJSON struct {
	Name       string            `json:"name"`
	ID         string            `json:"id,omitempty"`
	Internal   bool              `json:"internal"`
	Partitions []partitionJSON   `json:"partitions"`
	Configs    map[string]string `json:"configs"`
	Storage    *topicHealthJSON  `json:"storage,omitempty"` // with --http-addr (topic_health.go)
}

func (a *app) topicDescribeCmd() *cobra.Command {
	var output, httpAddr string
	cmd := &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show partitions (leader, replicas, ISR, offline replicas, offsets) and non-default configs of topics",
		Long: `Show each topic's partitions — leader ("none" while it has none) and leader
epoch, replicas, in-sync replicas, replicas on brokers that are down, log start
and end offsets — and the configs set on the topic itself (those differing
from the broker defaults).`,
		Example: `  samsa topic describe orders
  samsa topic describe orders users -o json`,
		Args: minArgs(1, "topic names"),
		RunE: func(cmd *cobra.Command, names []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			adm, err := a.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			topics, err := adm.ListTopicsWithInternal(ctx, names...)
			if err != nil {
				return a.explain("describe topics", err)
			}
			var errs errorList
			var found []string
			for _, n := range names {
				t, ok := topics[n]
				switch {
				case !ok || errors.Is(t.Err, kerr.UnknownTopicOrPartition):
					errs = append(errs, fmt.Errorf("topic %s does not exist", n))
				case t.Err != nil:
					errs = append(errs, fmt.Errorf("describe topic %s: %w", n, t.Err))
				default:
					found = append(found, n)
				}
			}
			var descs []topicDescribeJSON
			if len(found) > 0 {
				descs, err = a.describeTopics(cmd, adm, topics, found)
				if err != nil {
					return err
				}
				if err := a.addTopicHealth(cmd.Context(), httpAddr, descs); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				if descs == nil {
					descs = []topicDescribeJSON{}
				}
				if err := writeJSON(out, descs); err != nil {
					return err
				}
				return errs.err()
			}
			for i, d := range descs {
				if i > 0 {
					fmt.Fprintln(out)
				}
				rf := 0
				if len(d.Partitions) > 0 {
					rf = len(d.Partitions[0].Replicas)
				}
				fmt.Fprintf(out, "Topic: %s", d.Name)
				if d.ID != "" {
					fmt.Fprintf(out, "  ID: %s", d.ID)
				}
				fmt.Fprintf(out, "  Partitions: %d  Replication: %d  Internal: %v\n", len(d.Partitions), rf, d.Internal)
				fmt.Fprint(out, "Configs:")
				if len(d.Configs) == 0 {
					fmt.Fprint(out, " (defaults)")
				}
				keys := make([]string, 0, len(d.Configs))
				for k := range d.Configs {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for i, k := range keys {
					sep := " "
					if i > 0 {
						sep = ", "
					}
					fmt.Fprintf(out, "%s%s=%s", sep, k, d.Configs[k])
				}
				fmt.Fprintln(out)
				tb := newTable(out, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "LOG-START", "LOG-END")
				for _, p := range d.Partitions {
					tb.row(itoa(p.Partition), nodeCol(p.Leader), itoa(p.LeaderEpoch), replicaCol(p.Replicas), replicaCol(p.ISR),
						replicaCol(p.OfflineReplicas), offsetCol(p.LogStartOffset), offsetCol(p.LogEndOffset))
				}
				if err := tb.flush(); err != nil {
					return err
				}
				printTopicHealth(out, d)
			}
			return errs.err()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", "HOST:PORT of a node's HTTP server: also show the storage state (failed, disk full, corrupt or quarantined ranges) of that node's replicas")
	return cmd
}

// describeTopics gathers offsets and non-default configs of existing topics.
func (a *app) describeTopics(cmd *cobra.Command, adm *kadm.Client, topics kadm.TopicDetails, names []string) ([]topicDescribeJSON, error) {
	ctx, cancel := a.opCtx(cmd.Context())
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, a.explain("list start offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, a.explain("list end offsets", err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, a.explain("describe topic configs", err)
	}
	out := make([]topicDescribeJSON, 0, len(names))
	for _, n := range names {
		t := topics[n]
		d := topicDescribeJSON{Name: n, ID: topicID(t.ID), Internal: t.IsInternal, Configs: map[string]string{}}
		for _, p := range t.Partitions.Sorted() {
			pj := partitionJSON{
				Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), OfflineReplicas: nonNil(p.OfflineReplicas),
				LogStartOffset: -1, LogEndOffset: -1,
			}
			if p.Err != nil {
				pj.Error = p.Err.Error()
			}
			if o, ok := starts.Lookup(n, p.Partition); ok && o.Err == nil {
				pj.LogStartOffset = o.Offset
			}
			if o, ok := ends.Lookup(n, p.Partition); ok && o.Err == nil {
				pj.LogEndOffset = o.Offset
			}
			d.Partitions = append(d.Partitions, pj)
		}
		if rc, err := configs.On(n, nil); err == nil && rc.Err == nil {
			for _, c := range rc.Configs {
				if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
					d.Configs[c.Key] = c.MaybeValue()
				}
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func (a *app) topicAlterCmd() *cobra.Command {
	var (
		set        []string
		del        []string
		partitions int
	)
	cmd := &cobra.Command{
		Use:   "alter NAME...",
		Short: "Change topic configs (incrementally) or add partitions",
		Long: `Change topic configs incrementally — --config sets a key, --delete-config
reverts a key to the broker default, other keys are untouched — and/or raise
the partition count to --partitions (partitions can only be added).`,
		Example: `  samsa topic alter orders --config retention.ms=3600000 --delete-config cleanup.policy
  samsa topic alter orders --partitions 12`,
		Args: minArgs(1, "topic names"),
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(set) == 0 && len(del) == 0 && !cmd.Flags().Changed("partitions") {
				return usagef("nothing to alter: give --config, --delete-config or --partitions")
			}
			if cmd.Flags().Changed("partitions") && partitions < 1 {
				return usagef("--partitions %d: want ≥ 1", partitions)
			}
			var alters []kadm.AlterConfig
			for _, s := range set {
				k, v, err := parseKV("config", s)
				if err != nil {
					return err
				}
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			}
			for _, k := range del {
				if k == "" {
					return usagef("--delete-config: empty key")
				}
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			adm, err := a.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			out := cmd.OutOrStdout()
			var errs errorList
			if len(alters) > 0 {
				resps, err := adm.AlterTopicConfigs(ctx, alters, names...)
				if err != nil {
					return a.explain("alter topic configs", err)
				}
				for _, r := range resps {
					if r.Err != nil {
						errs = append(errs, fmt.Errorf("alter configs of topic %s: %w%s", r.Name, r.Err, errDetail(r.ErrMessage)))
						continue
					}
					fmt.Fprintf(out, "Altered configs of topic %s.\n", r.Name)
				}
			}
			if cmd.Flags().Changed("partitions") {
				resps, err := adm.UpdatePartitions(ctx, partitions, names...)
				if err != nil {
					return a.explain("create partitions", err)
				}
				for _, r := range resps.Sorted() {
					if r.Err != nil {
						errs = append(errs, fmt.Errorf("set partitions of topic %s to %d: %w%s", r.Topic, partitions, r.Err, errDetail(r.ErrMessage)))
						continue
					}
					fmt.Fprintf(out, "Topic %s now has %d partitions.\n", r.Topic, partitions)
				}
			}
			return errs.err()
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&set, "config", "c", nil, "set topic config KEY=VALUE (repeatable)")
	f.StringArrayVar(&del, "delete-config", nil, "revert topic config KEY to the default (repeatable)")
	f.IntVarP(&partitions, "partitions", "p", 0, "new total partition count (must exceed the current one)")
	return cmd
}

func (a *app) topicDeleteCmd() *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete topics",
		Example: `  samsa topic delete orders
  samsa topic delete a b c --if-exists`,
		Args: minArgs(1, "topic names"),
		RunE: func(cmd *cobra.Command, names []string) error {
			adm, err := a.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			resps, err := adm.DeleteTopics(ctx, names...)
			if err != nil {
				return a.explain("delete topics", err)
			}
			out := cmd.OutOrStdout()
			var errs errorList
			for _, n := range names {
				r, ok := resps[n]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("delete topic %s: no answer for it", n))
				case errors.Is(r.Err, kerr.UnknownTopicOrPartition) && ifExists:
					fmt.Fprintf(out, "Topic %s does not exist.\n", n)
				case errors.Is(r.Err, kerr.UnknownTopicOrPartition):
					errs = append(errs, fmt.Errorf("topic %s does not exist", n))
				case r.Err != nil:
					errs = append(errs, fmt.Errorf("delete topic %s: %w%s", n, r.Err, errDetail(r.ErrMessage)))
				default:
					fmt.Fprintf(out, "Deleted topic %s.\n", n)
				}
			}
			return errs.err()
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed if a topic does not exist")
	return cmd
}
