package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// The `samsa broker` commands operate on one broker of a cluster. Maintenance mode (drain)
// has no Kafka request, so drain and undrain go to a node's HTTP API (--http-addr, any node
// of the cluster: the state is in the cluster's metadata), as Redpanda's admin API does:
// PUT/DELETE /api/brokers/{id}/maintenance, GET /api/brokers (internal/console/brokers.go).
// With --sasl-username the request carries HTTP basic auth with the SASL user and password
// (the node's samsa.http.auth=basic checks them against the SCRAM credentials).

func (a *app) brokerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Operate on one broker of a cluster: drain (maintenance mode), undrain, decommission",
		Example: `  samsa broker drain 2 --http-addr 10.0.0.1:8080
  samsa broker undrain 2 --http-addr 10.0.0.1:8080
  samsa broker decommission 4`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(a.brokerDrainCmd(true), a.brokerDrainCmd(false), a.brokerDecommissionCmd())
	return cmd
}

// defaultHTTPAddr is --http-addr's default: $SAMSA_HTTP_ADDR, else serve's default.
func (a *app) defaultHTTPAddr() string {
	if v := a.streams.Getenv("SAMSA_HTTP_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:8080"
}

func (a *app) brokerDrainCmd(drain bool) *cobra.Command {
	var httpAddr string
	var wait bool
	use, short, long := "drain ID", "Put a broker in maintenance mode: it leads no partition another in-sync replica can lead",
		`Drain a broker (maintenance mode): it keeps its replicas and stays in every
ISR, so nothing becomes under-replicated, but the controller moves each
leadership it holds to another live, in-sync replica that is not drained, in a
new leader epoch, and preferred-leader elections (ElectLeaders, automatic leader
rebalancing) leave it alone. A partition whose only in-sync replica is the
drained broker stays led by it. The drain lasts across restarts until undrain.

With --wait the command returns once nothing movable is left on the broker (or
fails after --timeout). The request goes to a node's HTTP server
(--http-addr, any node of the cluster, default $SAMSA_HTTP_ADDR).`
	if !drain {
		use, short, long = "undrain ID", "End a broker's maintenance mode",
			`End a broker's maintenance mode: it may lead again. Leadership comes back to
it through preferred-leader elections (automatic leader rebalancing, or
ElectLeaders / kafka-leader-election.sh).`
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Example: "  samsa broker " + strings.Fields(use)[0] + " 2 --http-addr 10.0.0.1:8080",
		Args:    exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return usagef("broker id %q is not a non-negative integer", args[0])
			}
			method := http.MethodPut
			if !drain {
				method = http.MethodDelete
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			if err := a.httpAPI(ctx, httpAddr, method, "/api/brokers/"+strconv.Itoa(int(id))+"/maintenance", nil); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !drain {
				fmt.Fprintf(out, "Broker %d undrained\n", id)
				return nil
			}
			if !wait {
				fmt.Fprintf(out, "Broker %d draining\n", id)
				return nil
			}
			for {
				bs, err := a.brokerStates(ctx, httpAddr)
				if err != nil {
					return err
				}
				for _, b := range bs {
					if b.ID == int32(id) && b.Draining && b.DrainRemaining == 0 {
						fmt.Fprintf(out, "Broker %d drained: it leads %d partitions that have no other in-sync replica\n", id, b.Leaders)
						return nil
					}
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("broker %d still leads partitions another replica could lead after --timeout %v", id, a.timeout)
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().StringVar(&httpAddr, "http-addr", a.defaultHTTPAddr(), "HOST:PORT of a cluster node's HTTP server (env SAMSA_HTTP_ADDR)")
	if drain {
		cmd.Flags().BoolVar(&wait, "wait", false, "wait until the broker leads nothing another replica could lead (bounded by --timeout)")
	}
	return cmd
}

// brokerStateJSON is one broker as a node's GET /api/brokers lists it.
type brokerStateJSON struct {
	ID             int32 `json:"id"`
	Live           bool  `json:"live"`
	ShuttingDown   bool  `json:"shutting_down"`
	Draining       bool  `json:"draining"`
	Leaders        int   `json:"leaders"`
	DrainRemaining int   `json:"drain_remaining"`
}

func (a *app) brokerStates(ctx context.Context, httpAddr string) ([]brokerStateJSON, error) {
	var out []brokerStateJSON
	if err := a.httpAPI(ctx, httpAddr, http.MethodGet, "/api/brokers", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// httpAPI calls a node's HTTP API and decodes the JSON answer into out (nil: discard).
func (a *app) httpAPI(ctx context.Context, httpAddr, method, path string, out any) error {
	return a.httpCall(ctx, httpAddr, method, path, nil, out)
}

func (a *app) httpCall(ctx context.Context, httpAddr, method, path string, body io.Reader, out any) error {
	base := httpAddr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, body)
	if err != nil {
		return usagef("--http-addr %q: %v", httpAddr, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.sec.username != "" {
		pass := a.streams.Getenv("SAMSA_SASL_PASSWORD")
		if a.sec.passwordFile != "" {
			b, err := os.ReadFile(a.sec.passwordFile)
			if err != nil {
				return fmt.Errorf("--sasl-password-file: %w", err)
			}
			pass = strings.TrimRight(string(b), "\r\n")
		}
		req.SetBasicAuth(a.sec.username, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("node HTTP API at --http-addr %s: %w", httpAddr, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(respBody))
		if json.Unmarshal(respBody, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if resp.StatusCode == http.StatusNotFound && (strings.Contains(msg, "no such API endpoint") || strings.HasPrefix(msg, "404 page not found")) {
			msg += " (is --http-addr a node of a cluster?)"
		}
		return fmt.Errorf("%s %s: %s: %s", method, req.URL, resp.Status, msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(respBody, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL, err)
	}
	return nil
}
