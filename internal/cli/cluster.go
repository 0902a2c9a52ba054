package cli

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (a *app) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster: brokers, controller, partition health",
		Example: `  samsa cluster status
  samsa cluster status -o json`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(a.clusterStatusCmd(), a.clusterVoterCmd())
	return cmd
}

type clusterBrokerJSON struct {
	ID         int32  `json:"id"`
	Host       string `json:"host"`
	Port       int32  `json:"port"`
	Rack       string `json:"rack,omitempty"`
	Controller bool   `json:"controller"`
	// Maintenance, with --http-addr: "draining" (leadership still moving off it), "drained",
	// "shutting-down" or "" (from the node's GET /api/brokers).
	Maintenance string `json:"maintenance,omitempty"`
}

// clusterPartitionJSON is one partition that is not fully healthy.
type clusterPartitionJSON struct {
	Topic           string  `json:"topic"`
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	// MinISR is the topic's min.insync.replicas (0: unknown).
	MinISR int    `json:"min_insync_replicas,omitempty"`
	Error  string `json:"error,omitempty"`
}

type clusterStatusJSON struct {
	ClusterID  string              `json:"cluster_id"`
	Controller int32               `json:"controller"`
	Brokers    []clusterBrokerJSON `json:"brokers"`
	Topics     int                 `json:"topics"`
	Partitions int                 `json:"partitions"`
	// UnderReplicated: the ISR is smaller than the replica set.
	UnderReplicated []clusterPartitionJSON `json:"under_replicated"`
	// UnderMinISR: the ISR is smaller than min.insync.replicas, so acks=all writes are
	// refused (NOT_ENOUGH_REPLICAS).
	UnderMinISR []clusterPartitionJSON `json:"under_min_isr"`
	// Offline: no leader, so the partition can be neither written nor read.
	Offline []clusterPartitionJSON `json:"offline"`
}

func (a *app) clusterStatusCmd() *cobra.Command {
	var output, httpAddr string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show brokers, the controller, and under-replicated and offline partitions",
		Long: `Show the cluster's id, its controller and live brokers (DescribeCluster), and
every partition (internal topics included) that is under-replicated (ISR smaller
than its replicas), under min.insync.replicas (acks=all writes refused) or
offline (no leader), from Metadata. A single broker shows as a cluster of one.

With --http-addr (or $SAMSA_HTTP_ADDR) it also reads the brokers' maintenance
state from that node's HTTP API and shows it in a MAINTENANCE column: drained
(samsa broker drain, leadership moved away), draining (still moving) or
shutting-down (controlled shutdown).`,
		Example: `  samsa cluster status
  samsa cluster status --http-addr 127.0.0.1:8080
  samsa cluster status -o json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			st, err := a.clusterStatus(cmd)
			if err != nil {
				return err
			}
			if httpAddr != "" {
				if err := a.addMaintenance(cmd, httpAddr, st); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				return writeJSON(out, st)
			}
			fmt.Fprintf(out, "Cluster: %s  Controller: %s  Brokers: %d\n", orDash(st.ClusterID), nodeCol(st.Controller), len(st.Brokers))
			cols := []string{"BROKER", "ADDRESS", "RACK", "CONTROLLER"}
			if httpAddr != "" {
				cols = append(cols, "MAINTENANCE")
			}
			tb := newTable(out, cols...)
			for _, b := range st.Brokers {
				ctl := ""
				if b.Controller {
					ctl = "yes"
				}
				row := []string{itoa(b.ID), net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), orDash(b.Rack), ctl}
				if httpAddr != "" {
					row = append(row, orDash(b.Maintenance))
				}
				tb.row(row...)
			}
			if err := tb.flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "\nTopics: %d  Partitions: %d  Under-replicated: %d  Under min ISR: %d  Offline: %d\n",
				st.Topics, st.Partitions, len(st.UnderReplicated), len(st.UnderMinISR), len(st.Offline))
			for _, sec := range []struct {
				title string
				list  []clusterPartitionJSON
			}{
				{"Offline partitions (no leader)", st.Offline},
				{"Under min ISR (acks=all refused)", st.UnderMinISR},
				{"Under-replicated partitions", st.UnderReplicated},
			} {
				if len(sec.list) == 0 {
					continue
				}
				fmt.Fprintf(out, "\n%s:\n", sec.title)
				tb := newTable(out, "TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE", "MIN-ISR")
				for _, p := range sec.list {
					minISR := "-"
					if p.MinISR > 0 {
						minISR = itoa(p.MinISR)
					}
					tb.row(p.Topic, itoa(p.Partition), nodeCol(p.Leader), replicaCol(p.Replicas), replicaCol(p.ISR),
						replicaCol(p.OfflineReplicas), minISR)
				}
				if err := tb.flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&httpAddr, "http-addr", a.streams.Getenv("SAMSA_HTTP_ADDR"),
		"HOST:PORT of a cluster node's HTTP server: also show each broker's maintenance state (env SAMSA_HTTP_ADDR)")
	return cmd
}

// addMaintenance fills the brokers' Maintenance from the node at httpAddr (GET /api/brokers).
func (a *app) addMaintenance(cmd *cobra.Command, httpAddr string, st *clusterStatusJSON) error {
	ctx, cancel := a.opCtx(cmd.Context())
	defer cancel()
	bs, err := a.brokerStates(ctx, httpAddr)
	if err != nil {
		return err
	}
	for i := range st.Brokers {
		for _, b := range bs {
			if b.ID != st.Brokers[i].ID {
				continue
			}
			switch {
			case b.ShuttingDown:
				st.Brokers[i].Maintenance = "shutting-down"
			case b.Draining && b.DrainRemaining > 0:
				st.Brokers[i].Maintenance = "draining"
			case b.Draining:
				st.Brokers[i].Maintenance = "drained"
			}
		}
	}
	return nil
}

// clusterStatus asks DescribeCluster for the brokers and controller, Metadata for every
// partition, and DescribeConfigs for the min.insync.replicas of topics with a short ISR.
func (a *app) clusterStatus(cmd *cobra.Command) (*clusterStatusJSON, error) {
	cl, err := a.newClient()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ctx, cancel := a.opCtx(cmd.Context())
	defer cancel()
	md, err := adm.Metadata(ctx)
	if err != nil {
		return nil, a.explain("metadata", err)
	}
	st := &clusterStatusJSON{ClusterID: md.Cluster, Controller: md.Controller,
		UnderReplicated: []clusterPartitionJSON{}, UnderMinISR: []clusterPartitionJSON{}, Offline: []clusterPartitionJSON{}}
	dreq := kmsg.NewPtrDescribeClusterRequest()
	if dresp, err := dreq.RequestWith(ctx, cl); err == nil && dresp.ErrorCode == 0 {
		st.ClusterID, st.Controller = dresp.ClusterID, dresp.ControllerID
		for _, b := range dresp.Brokers {
			st.Brokers = append(st.Brokers, clusterBrokerJSON{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: deref(b.Rack)})
		}
	} else {
		// A broker without DescribeCluster (before Kafka 2.8): Metadata's brokers.
		for _, b := range md.Brokers {
			st.Brokers = append(st.Brokers, clusterBrokerJSON{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: deref(b.Rack)})
		}
	}
	slices.SortFunc(st.Brokers, func(x, y clusterBrokerJSON) int { return int(x.ID - y.ID) })
	for i := range st.Brokers {
		st.Brokers[i].Controller = st.Brokers[i].ID == st.Controller
	}
	short := map[string]bool{} // topics with a partition whose ISR is short
	for _, t := range md.Topics.Sorted() {
		if t.Err != nil {
			continue
		}
		st.Topics++
		for _, p := range t.Partitions.Sorted() {
			st.Partitions++
			h := clusterPartitionJSON{Topic: t.Topic, Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), OfflineReplicas: nonNil(p.OfflineReplicas)}
			if p.Err != nil {
				h.Error = p.Err.Error()
			}
			if p.Leader < 0 || errors.Is(p.Err, kerr.LeaderNotAvailable) {
				st.Offline = append(st.Offline, h)
			}
			if len(p.ISR) < len(p.Replicas) {
				st.UnderReplicated = append(st.UnderReplicated, h)
				short[t.Topic] = true
			}
		}
	}
	if len(short) == 0 {
		return st, nil
	}
	names := make([]string, 0, len(short))
	for n := range short {
		names = append(names, n)
	}
	minISR := map[string]int{}
	if rcs, err := adm.DescribeTopicConfigs(ctx, names...); err == nil {
		for _, rc := range rcs {
			for _, c := range rc.Configs {
				if c.Key == "min.insync.replicas" {
					if v, err := strconv.Atoi(c.MaybeValue()); err == nil {
						minISR[rc.Name] = v
					}
				}
			}
		}
	}
	for _, list := range []*[]clusterPartitionJSON{&st.UnderReplicated, &st.Offline} {
		for i := range *list {
			(*list)[i].MinISR = minISR[(*list)[i].Topic]
		}
	}
	for _, h := range st.UnderReplicated {
		if h.MinISR > 0 && len(h.ISR) < h.MinISR {
			st.UnderMinISR = append(st.UnderMinISR, h)
		}
	}
	return st, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nodeCol prints a broker id, or "none" for -1 (no leader, no controller).
func nodeCol(id int32) string {
	if id < 0 {
		return "none"
	}
	return itoa(id)
}

// replicaCol prints a broker list, or "-" for none.
func replicaCol(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	return joinInt32s(ids)
}
