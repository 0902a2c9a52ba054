package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/placement"
)

func (a *app) brokerDecommissionCmd() *cobra.Command {
	var (
		dryRun  bool
		maxWait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "decommission ID",
		Short: "Move every replica off a broker, then remove it from the cluster",
		Long: `Decommission a broker: plan new replica lists for every partition that has a
replica on it (internal/placement, rack-aware with broker.rack, the broker
excluded; only those partitions move), start the moves
(AlterPartitionReassignments), wait until the broker holds no replica, printing
progress, then unregister it (UnregisterBroker) so it leaves the cluster's
metadata. Stop its process afterwards; restarted, it would register again as an
empty broker. A broker that is down (a dead node replaced by one with a new id)
is decommissioned the same way: its replicas move to the live brokers.

Clients keep working throughout: each partition keeps its leader until its new
replicas are in sync, and a leader that is moved away hands over in a new leader
epoch (clients refresh their metadata on NOT_LEADER_OR_FOLLOWER). Interrupting
the wait leaves the moves running; run the command again to wait and unregister,
or cancel them with samsa partition reassign --cancel.`,
		Example: `  samsa broker decommission 4
  samsa broker decommission 4 --dry-run`,
		Args: exactArgs(1, "broker id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id64, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil {
				return usagef("broker id %q is not a number", args[0])
			}
			id := int32(id64)
			cl, err := a.newClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			out := cmd.OutOrStdout()
			brokers, parts, _, err := a.clusterLayout(cmd.Context(), cl)
			if err != nil {
				return err
			}
			known := false
			for i := range brokers {
				if brokers[i].ID == id {
					brokers[i].Excluded, known = true, true
				}
			}
			named := false
			for _, p := range parts {
				named = named || slices.Contains(p.Replicas, id)
			}
			switch {
			case !known && !named:
				return fmt.Errorf("broker %d is not registered and holds no replica (live brokers %v)", id, brokerIDs(brokers))
			case !known:
				// A dead broker (replaced by one with a new id): its replicas move to live
				// brokers; it is unregistered already.
				fmt.Fprintf(out, "Broker %d is not registered (down); moving its replicas to live brokers.\n", id)
			}
			plan, err := placement.Plan(brokers, parts)
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			// Move only the partitions the broker holds: a decommission is not a rebalance.
			var moves []placement.Partition
			for _, p := range plan {
				for _, c := range parts {
					if c.Topic == p.Topic && c.Partition == p.Partition && slices.Contains(c.Replicas, id) {
						moves = append(moves, p)
					}
				}
			}
			fmt.Fprintf(out, "Broker %d: %d partitions to move.\n", id, len(moves))
			if err := printPlan(out, parts, moves, false); err != nil {
				return err
			}
			if dryRun {
				return nil
			}
			if len(moves) > 0 {
				if err := a.alterReassignments(cmd.Context(), cl, out, toPlanPartitions(moves), false); err != nil {
					return err
				}
			}
			if err := a.waitOffBroker(cmd, cl, id, maxWait); err != nil {
				return err
			}
			octx, done := a.opCtx(cmd.Context())
			defer done()
			ureq := kmsg.NewPtrUnregisterBrokerRequest()
			ureq.BrokerID = id
			uresp, err := ureq.RequestWith(octx, cl)
			if err != nil {
				return a.explain("unregister broker", err)
			}
			if err := kerr.ErrorForCode(uresp.ErrorCode); err != nil && !errors.Is(err, kerr.BrokerIDNotRegistered) {
				return fmt.Errorf("unregister broker %d: %w: %s", id, err, deref(uresp.ErrorMessage))
			}
			fmt.Fprintf(out, "Broker %d holds no replica and left the cluster's metadata; stop its process now.\n", id)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().DurationVar(&maxWait, "max-wait", 30*time.Minute, "how long to wait for the moves at most")
	return cmd
}

// waitOffBroker waits until no partition's replica list (Metadata; during a move, the union)
// names broker id, printing the moves' progress.
func (a *app) waitOffBroker(cmd *cobra.Command, cl *kgo.Client, id int32, maxWait time.Duration) error {
	out := cmd.OutOrStdout()
	deadline := time.Now().Add(maxWait)
	last := ""
	for {
		octx, done := a.opCtx(cmd.Context())
		mresp, err := kmsg.NewPtrMetadataRequest().RequestWith(octx, cl)
		done()
		if err == nil {
			var left []string
			for _, t := range mresp.Topics {
				for _, p := range t.Partitions {
					if slices.Contains(p.Replicas, id) {
						left = append(left, deref(t.Topic)+"-"+itoa(p.Partition))
					}
				}
			}
			if len(left) == 0 {
				return nil
			}
			st, serr := a.reassignStatus(cmd.Context(), cl)
			line := fmt.Sprintf("%d partitions still on broker %d", len(left), id)
			if serr == nil && len(st) > 0 {
				line += "; " + progressLine(st)
			}
			if line != last {
				fmt.Fprintf(out, "%s %s\n", time.Now().Format("15:04:05"), line)
				last = line
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("broker %d still holds replicas after %v (the moves continue; run the command again to wait): %s", id, maxWait, last)
		}
		select {
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		case <-time.After(time.Second):
		}
	}
}

func brokerIDs(bs []placement.Broker) []int32 {
	out := make([]int32, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}
