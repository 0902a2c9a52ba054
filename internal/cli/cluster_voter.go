package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// `samsa cluster voter list|add|remove` change the controller voters (the embedded etcd
// members) through a node's HTTP API (GET/POST /api/cluster/voters, DELETE
// /api/cluster/voters/{id}); Kafka's protocol has no request for a metadata quorum that is
// not KRaft's.

func (a *app) clusterVoterCmd() *cobra.Command {
	var httpAddr string
	cmd := &cobra.Command{
		Use:   "voter",
		Short: "List, add and remove controller voters (the embedded metadata store's members)",
		Long: `List, add and remove controller voters: the nodes that run a member of the
embedded metadata store (etcd). A change needs a quorum of the current voters.

To add node 4 as a voter: "samsa cluster voter add 4@HOST:PORT" with node 4's
--cluster-addr, then start node 4 with itself in --controller-voters (and an
empty metadata directory): it joins the running voters.

To replace a voter whose disk was lost: remove it, add it again, and start it
on an empty data directory.`,
		Example: `  samsa cluster voter list --http-addr 10.0.0.1:8080
  samsa cluster voter add 4@10.0.0.4:9192 --http-addr 10.0.0.1:8080
  samsa cluster voter remove 3 --http-addr 10.0.0.1:8080`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.PersistentFlags().StringVar(&httpAddr, "http-addr", a.defaultHTTPAddr(), "HOST:PORT of a cluster node's HTTP server (env SAMSA_HTTP_ADDR)")

	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the controller voters",
		Args:  exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			var vs []struct {
				NodeID    int32  `json:"node_id"`
				Name      string `json:"name,omitempty"`
				PeerURL   string `json:"peer_url"`
				ClientURL string `json:"client_url,omitempty"`
				Started   bool   `json:"started"`
				MemberID  string `json:"member_id"`
			}
			if err := a.httpAPI(ctx, httpAddr, http.MethodGet, "/api/cluster/voters", &vs); err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(cmd.OutOrStdout(), vs)
			}
			tb := newTable(cmd.OutOrStdout(), "NODE", "PEER", "CLIENT", "STARTED", "MEMBER")
			for _, v := range vs {
				started := "no"
				if v.Started {
					started = "yes"
				}
				tb.row(nodeCol(v.NodeID), v.PeerURL, orDash(v.ClientURL), started, v.MemberID)
			}
			return tb.flush()
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")

	add := &cobra.Command{
		Use:   "add ID@HOST:PORT",
		Short: "Add node ID, whose --cluster-addr is HOST:PORT, as a controller voter",
		Args:  exactArgs(1, "ID@HOST:PORT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			idStr, addr, ok := strings.Cut(args[0], "@")
			id, err := strconv.ParseInt(idStr, 10, 32)
			if !ok || err != nil || id < 0 {
				return usagef("voter %q: want ID@HOST:PORT", args[0])
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return usagef("voter %q: %v", args[0], err)
			}
			body, _ := json.Marshal(map[string]any{"id": id, "address": addr})
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			if err := a.httpAPIBody(ctx, httpAddr, http.MethodPost, "/api/cluster/voters", body, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Node %d added as a controller voter at %s: start it with itself in --controller-voters\n", id, addr)
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove node ID from the controller voters",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return usagef("node id %q is not a non-negative integer", args[0])
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			if err := a.httpAPI(ctx, httpAddr, http.MethodDelete, "/api/cluster/voters/"+strconv.Itoa(int(id)), nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Node %d removed from the controller voters\n", id)
			return nil
		},
	}
	cmd.AddCommand(list, add, remove)
	return cmd
}

// httpAPIBody is httpAPI with a JSON request body.
func (a *app) httpAPIBody(ctx context.Context, httpAddr, method, path string, body []byte, out any) error {
	return a.httpCall(ctx, httpAddr, method, path, bytes.NewReader(body), out)
}
