package cli

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func (a *app) groupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset offsets of and delete consumer groups",
		Example: `  samsa group list
  samsa group describe billing
  samsa group reset-offsets billing --topic orders --to-earliest --execute
  samsa group delete billing`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(a.groupListCmd(), a.groupDescribeCmd(), a.groupResetCmd(), a.groupDeleteCmd())
	return cmd
}

type groupListJSON struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func (a *app) groupListCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Example: `  samsa group list
  samsa group list -o json`,
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
			groups, err := adm.ListGroups(ctx)
			if err != nil {
				return a.explain("list groups", err)
			}
			rows := []groupListJSON{}
			for _, g := range groups.Sorted() {
				rows = append(rows, groupListJSON{g.Group, g.State, g.ProtocolType, g.Coordinator})
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return writeJSON(out, rows)
			}
			tb := newTable(out, "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
			for _, r := range rows {
				tb.row(r.Group, r.State, r.ProtocolType, itoa(r.Coordinator))
			}
			return tb.flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

type memberJSON struct {
	MemberID   string             `json:"member_id"`
	InstanceID string             `json:"instance_id,omitempty"`
	ClientID   string             `json:"client_id"`
	Host       string             `json:"host"`
	Assigned   map[string][]int32 `json:"assigned"`
}

type groupOffsetJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // -1: none
	LogEnd    int64  `json:"log_end"`   // -1: unknown
	Lag       int64  `json:"lag"`       // -1: unknown
	MemberID  string `json:"member_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

type groupDescribeJSON struct {
	Group        string            `json:"group"`
	State        string            `json:"state"`
	ProtocolType string            `json:"protocol_type"`
	Protocol     string            `json:"protocol"`
	Coordinator  int32             `json:"coordinator"`
	Members      []memberJSON      `json:"members"`
	Offsets      []groupOffsetJSON `json:"offsets"`
	TotalLag     int64             `json:"total_lag"`
}

func (a *app) groupDescribeCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members, committed offsets and lag",
		Long: `Show a consumer group's state, protocol and members (client ID, host,
assigned partitions), then for every partition it is assigned or has
committed: the committed offset, the log end offset and the lag (end minus
committed), and the total lag.`,
		Example: `  samsa group describe billing
  samsa group describe billing -o json`,
		Args: minArgs(1, "group names"),
		RunE: func(cmd *cobra.Command, groups []string) error {
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
			lags, err := adm.Lag(ctx, groups...)
			if err != nil {
				return a.explain("describe groups", err)
			}
			var errs errorList
			var descs []groupDescribeJSON
			for _, g := range groups {
				l, ok := lags[g]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("describe group %s: no answer for it", g))
					continue
				case errors.Is(l.DescribeErr, kerr.GroupIDNotFound) || (l.DescribeErr == nil && l.State == "Dead"):
					errs = append(errs, fmt.Errorf("group %s does not exist", g))
					continue
				case l.Error() != nil:
					errs = append(errs, fmt.Errorf("describe group %s: %w", g, l.Error()))
					continue
				}
				descs = append(descs, groupDescription(l))
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				if descs == nil {
					descs = []groupDescribeJSON{}
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
				proto := d.ProtocolType
				if d.Protocol != "" {
					proto += "/" + d.Protocol
				}
				fmt.Fprintf(out, "Group: %s  State: %s  Protocol: %s  Coordinator: %d  Members: %d\n",
					d.Group, d.State, proto, d.Coordinator, len(d.Members))
				if len(d.Members) > 0 {
					fmt.Fprintln(out)
					tb := newTable(out, "MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNED")
					for _, m := range d.Members {
						tb.row(m.MemberID, m.ClientID, m.Host, formatAssigned(m.Assigned))
					}
					if err := tb.flush(); err != nil {
						return err
					}
				}
				fmt.Fprintln(out)
				tb := newTable(out, "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID")
				for _, o := range d.Offsets {
					member := o.MemberID
					if member == "" {
						member = "-"
					}
					lag := offsetCol(o.Lag)
					if o.Error != "" {
						lag = "? (" + o.Error + ")"
					}
					tb.row(o.Topic, itoa(o.Partition), offsetCol(o.Committed), offsetCol(o.LogEnd), lag, member)
				}
				if err := tb.flush(); err != nil {
					return err
				}
				fmt.Fprintf(out, "\nTotal lag: %d\n", d.TotalLag)
			}
			return errs.err()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// groupDescription flattens kadm's group lag into the printed form.
func groupDescription(l kadm.DescribedGroupLag) groupDescribeJSON {
	d := groupDescribeJSON{
		Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: l.Coordinator.NodeID, Members: []memberJSON{}, Offsets: []groupOffsetJSON{},
	}
	for _, m := range l.Members {
		mj := memberJSON{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		if m.InstanceID != nil {
			mj.InstanceID = *m.InstanceID
		}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				mj.Assigned[t.Topic] = ps
			}
		}
		d.Members = append(d.Members, mj)
	}
	for _, ml := range l.Lag.Sorted() {
		o := groupOffsetJSON{
			Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At,
			LogEnd: -1, Lag: ml.Lag,
		}
		if ml.End.Err == nil {
			o.LogEnd = ml.End.Offset
		}
		if ml.Member != nil {
			o.MemberID = ml.Member.MemberID
		}
		if ml.Err != nil {
			o.Error = ml.Err.Error()
		}
		if o.Lag > 0 {
			d.TotalLag += o.Lag
		}
		d.Offsets = append(d.Offsets, o)
	}
	return d
}

// formatAssigned renders {"t": [0 1]} as "t[0,1]" (topics sorted).
func formatAssigned(m map[string][]int32) string {
	if len(m) == 0 {
		return "-"
	}
	topics := make([]string, 0, len(m))
	for t := range m {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	var b strings.Builder
	for i, t := range topics {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t + "[" + joinInt32s(m[t]) + "]")
	}
	return b.String()
}

// resetOpts are the flags of group reset-offsets.
type resetOpts struct {
	topics     []string
	toEarliest bool
	toLatest   bool
	toOffset   int64
	toDatetime string
	shiftBy    int64
	dryRun     bool
	execute    bool
	output     string
}

type resetPlanJSON struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current"` // -1: no committed offset
	New       int64  `json:"new"`
}

func (a *app) groupResetCmd() *cobra.Command {
	var o resetOpts
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Move a group's committed offsets (dry run unless --execute)",
		Long: `Plan new committed offsets for GROUP on the partitions of --topic (TOPIC, or
TOPIC:P,P,... for some partitions) and print the plan; with --execute, commit
it. Exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime T
(the first offset at or after T; RFC 3339 or Unix ms) or --shift-by N (from
the committed offset) picks the new offsets, which are clamped to each
partition's log start and end. Like kafka-consumer-groups.sh, this refuses
to touch a group that has active members.`,
		Example: `  samsa group reset-offsets billing --topic orders --to-earliest
  samsa group reset-offsets billing --topic orders:0,1 --shift-by -100 --execute
  samsa group reset-offsets billing --topic orders --to-datetime 2024-05-01T00:00:00Z --execute`,
		Args: exactArgs(1, "group"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runReset(cmd, args[0], &o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.topics, "topic", "t", nil, "topic to reset, TOPIC or TOPIC:P,P,... (repeatable)")
	f.BoolVar(&o.toEarliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&o.toLatest, "to-latest", false, "reset to the log end offset")
	f.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset")
	f.StringVar(&o.toDatetime, "to-datetime", "", "reset to the first offset at or after this time (RFC 3339 or Unix ms)")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by N (negative: back)")
	f.BoolVar(&o.dryRun, "dry-run", false, "only print the plan (the default)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	_ = cmd.MarkFlagRequired("topic")
	cmd.MarkFlagsMutuallyExclusive("to-earliest", "to-latest", "to-offset", "to-datetime", "shift-by")
	cmd.MarkFlagsOneRequired("to-earliest", "to-latest", "to-offset", "to-datetime", "shift-by")
	cmd.MarkFlagsMutuallyExclusive("dry-run", "execute")
	return cmd
}

// parseTopicSpec parses TOPIC or TOPIC:P,P,...; nil partitions means all.
func parseTopicSpec(s string) (string, []int32, error) {
	t, ps, ok := strings.Cut(s, ":")
	if t == "" {
		return "", nil, usagef("--topic %q: empty topic name", s)
	}
	if !ok {
		return t, nil, nil
	}
	var out []int32
	for p := range strings.SplitSeq(ps, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || n < 0 {
			return "", nil, usagef("--topic %q: partition %q is not a number ≥ 0", s, p)
		}
		out = append(out, int32(n))
	}
	return t, out, nil
}

func (a *app) runReset(cmd *cobra.Command, group string, o *resetOpts) error {
	jsonOut, err := parseOutput(o.output)
	if err != nil {
		return err
	}
	var toMillis int64
	if o.toDatetime != "" {
		if toMillis, err = parseTime("to-datetime", o.toDatetime); err != nil {
			return err
		}
	}
	if cmd.Flags().Changed("to-offset") && o.toOffset < 0 {
		return usagef("--to-offset %d: want ≥ 0", o.toOffset)
	}
	want := map[string][]int32{} // topic → partitions (nil: all)
	var topics []string
	for _, s := range o.topics {
		t, ps, err := parseTopicSpec(s)
		if err != nil {
			return err
		}
		if _, dup := want[t]; !dup {
			topics = append(topics, t)
		}
		want[t] = append(want[t], ps...)
		if ps == nil {
			want[t] = nil
		}
	}

	adm, err := a.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := a.opCtx(cmd.Context())
	defer cancel()

	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return a.explain("describe group "+group, err)
	}
	if d, ok := described[group]; ok {
		if d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound) {
			return fmt.Errorf("describe group %s: %w", group, d.Err)
		}
		if len(d.Members) > 0 {
			return fmt.Errorf("group %s has %d active member(s) (state %s); stop its consumers before resetting offsets", group, len(d.Members), d.State)
		}
	}
	meta, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return a.explain("look up topics", err)
	}
	for _, t := range topics {
		d, ok := meta[t]
		if !ok || d.Err != nil {
			return fmt.Errorf("topic %s does not exist", t)
		}
		if want[t] == nil {
			want[t] = d.Partitions.Numbers()
		}
		for _, p := range want[t] {
			if _, ok := d.Partitions[p]; !ok {
				return fmt.Errorf("topic %s has no partition %d", t, p)
			}
		}
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // a new group: nothing committed yet
	}
	if err != nil {
		return a.explain("fetch committed offsets of group "+group, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return a.explain("list start offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return a.explain("list end offsets", err)
	}
	var atTime kadm.ListedOffsets
	if o.toDatetime != "" {
		if atTime, err = adm.ListOffsetsAfterMilli(ctx, toMillis, topics...); err != nil {
			return a.explain("list offsets by time", err)
		}
	}

	var plan []resetPlanJSON
	commit := kadm.Offsets{}
	for _, t := range topics {
		ps := append([]int32(nil), want[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		for i, p := range ps {
			if i > 0 && p == ps[i-1] {
				continue
			}
			s, sok := starts.Lookup(t, p)
			e, eok := ends.Lookup(t, p)
			if !sok || !eok || s.Err != nil || e.Err != nil {
				return fmt.Errorf("no log start/end offsets for %s[%d]", t, p)
			}
			cur := int64(-1)
			if c, ok := committed.Lookup(t, p); ok && c.Err == nil {
				cur = c.At
			}
			var n int64
			switch {
			case o.toEarliest:
				n = s.Offset
			case o.toLatest:
				n = e.Offset
			case cmd.Flags().Changed("to-offset"):
				n = o.toOffset
			case o.toDatetime != "":
				n = e.Offset
				if lo, ok := atTime.Lookup(t, p); ok && lo.Err == nil && lo.Offset >= 0 {
					n = lo.Offset
				}
			default: // shift-by
				if cur < 0 {
					return fmt.Errorf("cannot shift %s[%d]: group %s has no committed offset there", t, p, group)
				}
				n = cur + o.shiftBy
			}
			n = min(max(n, s.Offset), e.Offset)
			plan = append(plan, resetPlanJSON{Group: group, Topic: t, Partition: p, Current: cur, New: n})
			commit.Add(kadm.Offset{Topic: t, Partition: p, At: n, LeaderEpoch: -1})
		}
	}

	out := cmd.OutOrStdout()
	if o.execute {
		resps, err := adm.CommitOffsets(ctx, group, commit)
		if err != nil {
			return a.explain("commit offsets of group "+group, err)
		}
		if err := resps.Error(); err != nil {
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.IllegalGeneration) {
				return fmt.Errorf("commit offsets of group %s: %w (did a consumer join meanwhile?)", group, err)
			}
			return fmt.Errorf("commit offsets of group %s: %w", group, err)
		}
	}
	if jsonOut {
		if plan == nil {
			plan = []resetPlanJSON{}
		}
		if err := writeJSON(out, plan); err != nil {
			return err
		}
	} else {
		tb := newTable(out, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET")
		for _, r := range plan {
			tb.row(r.Group, r.Topic, itoa(r.Partition), offsetCol(r.Current), itoa(r.New))
		}
		if err := tb.flush(); err != nil {
			return err
		}
	}
	if o.execute {
		fmt.Fprintf(cmd.ErrOrStderr(), "Committed new offsets for %d partition(s) of group %s.\n", len(plan), group)
	} else {
		fmt.Fprintln(cmd.ErrOrStderr(), "Dry run: nothing was changed; add --execute to commit these offsets.")
	}
	return nil
}

func (a *app) groupDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups (they must have no active members)",
		Example: `  samsa group delete billing
  samsa group delete old-a old-b`,
		Args: minArgs(1, "group names"),
		RunE: func(cmd *cobra.Command, groups []string) error {
			adm, err := a.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			resps, err := adm.DeleteGroups(ctx, groups...)
			if err != nil {
				return a.explain("delete groups", err)
			}
			out := cmd.OutOrStdout()
			var errs errorList
			for _, g := range groups {
				r, ok := resps[g]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("delete group %s: no answer for it", g))
				case errors.Is(r.Err, kerr.GroupIDNotFound):
					errs = append(errs, fmt.Errorf("group %s does not exist", g))
				case errors.Is(r.Err, kerr.NonEmptyGroup):
					errs = append(errs, fmt.Errorf("group %s has active members; stop them first: %w", g, r.Err))
				case r.Err != nil:
					errs = append(errs, fmt.Errorf("delete group %s: %w", g, r.Err))
				default:
					fmt.Fprintf(out, "Deleted group %s.\n", g)
				}
			}
			return errs.err()
		},
	}
	return cmd
}
