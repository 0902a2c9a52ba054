package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sort"

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
	)
	cmd := &cobra.Command{
		Use:   "create NAME...",
		Short: "Create topics",
		Long: `Create topics. Partitions and replication factor default to the broker's
defaults (num.partitions, default.replication.factor). --config sets topic
configs such as retention.ms, cleanup.policy, max.message.bytes.`,
		Example: `  samsa topic create orders --partitions 6 --replication-factor 1
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
	return cmd
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
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	LogStartOffset int64   `json:"log_start_offset"`
	LogEndOffset   int64   `json:"log_end_offset"`
	Error          string  `json:"error,omitempty"`
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
		Short: "Show partitions (leader, replicas, ISR, offsets) and non-default configs of topics",
		Long: `Show each topic's partitions — leader, replicas, in-sync replicas, log start
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
				tb := newTable(out, "PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START", "LOG-END")
				for _, p := range d.Partitions {
					tb.row(itoa(p.Partition), itoa(p.Leader), joinInt32s(p.Replicas), joinInt32s(p.ISR),
						offsetCol(p.LogStartOffset), offsetCol(p.LogEndOffset))
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
				Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), LogStartOffset: -1, LogEndOffset: -1,
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
