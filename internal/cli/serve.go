package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/server"
)

// serveFlags are the flags of samsa serve.
type serveFlags struct {
	dataDir          string
	kafkaAddr        string
	httpAddr         string
	registryAddr     string
	autoCreateTopics bool
	configFile       string
	logLevel         string
	logFormat        string

	// Cluster mode (docs/cluster.md).
	nodeID            int32
	clusterAddr       string
	controllerVoters  string
	metadataEndpoints string
	advertisedKafka   string
}

func (a *app) serveCmd() *cobra.Command {
	var sf serveFlags
	return a.serveCmdWith(&sf)
}

// serveCmdWith builds serve with its flags bound to sf.
func (a *app) serveCmdWith(sf *serveFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Samsa broker",
		Long: `Run a Samsa broker in the foreground until SIGINT or SIGTERM, then shut down
cleanly (exit code 0).

--config FILE reads a Java properties file with Kafka's server.properties
names (num.partitions, log.retention.hours, ...). Flags given explicitly
override the file. Without --data-dir the file's log.dirs (first entry) is
used if set; without --kafka-addr, the file's listeners are opened, each with
its security protocol (listener.security.protocol.map): PLAINTEXT, SSL,
SASL_PLAINTEXT or SASL_SSL. --kafka-addr is the shorthand for one PLAINTEXT
listener. See docs/security.md.`,
		Example: `  samsa serve
  samsa serve --data-dir /var/lib/samsa --kafka-addr 0.0.0.0:9092 --registry-addr 0.0.0.0:8081
  samsa serve --registry-addr off --http-addr off
  samsa serve --config server.properties --log-level debug --log-format json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.serveConfig(cmd, sf)
			if err != nil {
				return err
			}
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.dataDir, "data-dir", "./samsa-data", "directory holding the logs and state")
	f.StringVar(&sf.kafkaAddr, "kafka-addr", "127.0.0.1:9092", "HOST:PORT of the Kafka protocol listener")
	f.StringVar(&sf.httpAddr, "http-addr", "127.0.0.1:8080", `HOST:PORT of the web console, admin API (/api/), /metrics, /healthz and /readyz; "off" or "" runs none`)
	f.StringVar(&sf.registryAddr, "registry-addr", "127.0.0.1:8081", `HOST:PORT of the schema registry (Confluent's REST API); "off" or "" runs none`)
	f.BoolVar(&sf.autoCreateTopics, "auto-create-topics", true, "create topics on first use (auto.create.topics.enable)")
	f.StringVar(&sf.configFile, "config", "", "Java properties file with broker settings (Kafka server.properties names)")
	f.StringVar(&sf.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&sf.logFormat, "log-format", "text", "text or json")
	f.Int32Var(&sf.nodeID, "node-id", 0, "this node's broker id in a cluster (node.id)")
	f.StringVar(&sf.clusterAddr, "cluster-addr", "", "HOST:PORT of this node's inter-node listener (the embedded metadata store's peer port; the next port is its client port)")
	f.StringVar(&sf.controllerVoters, "controller-voters", "", "the initial controller voters, id@host:port of their --cluster-addr, comma separated; starts a cluster")
	f.StringVar(&sf.metadataEndpoints, "metadata-endpoints", "", "an external etcd's client URLs (http://host:port,...) instead of the embedded metadata store")
	f.StringVar(&sf.advertisedKafka, "advertised-kafka-addr", "", "HOST:PORT clients are told to connect to (default: the Kafka listener's address)")
	return cmd
}

// serveConfig builds the server configuration: defaults, then the
// properties file, then the flags that were given.
func (a *app) serveConfig(cmd *cobra.Command, sf *serveFlags) (server.Config, error) {
	logger, err := newLogger(cmd.ErrOrStderr(), sf.logLevel, sf.logFormat)
	if err != nil {
		return server.Config{}, err
	}
	b := config.DefaultBroker()
	if sf.configFile != "" {
		f, err := os.Open(sf.configFile)
		if err != nil {
			return server.Config{}, fmt.Errorf("config file: %w", err)
		}
		err = config.ParseProperties(f, &b)
		f.Close()
		if err != nil {
			return server.Config{}, fmt.Errorf("config file %s: %w", sf.configFile, err)
		}
	}
	changed := cmd.Flags().Changed
	if changed("auto-create-topics") {
		if err := b.Set("auto.create.topics.enable", strconv.FormatBool(sf.autoCreateTopics)); err != nil {
			return server.Config{}, usagef("--auto-create-topics: %v", err)
		}
	}
	cfg := server.Config{
		DataDir:      sf.dataDir,
		KafkaAddr:    sf.kafkaAddr,
		HTTPAddr:     sf.httpAddr,
		RegistryAddr: sf.registryAddr,
		Logger:       logger,
	}
	if sf.registryAddr == "" || strings.EqualFold(sf.registryAddr, server.RegistryOff) {
		cfg.RegistryAddr = server.RegistryOff
	}
	if sf.httpAddr == "" || strings.EqualFold(sf.httpAddr, server.HTTPOff) {
		cfg.HTTPAddr = server.HTTPOff
	}
	if !changed("data-dir") && (hasKey(b.Raw, "log.dirs") || hasKey(b.Raw, "log.dir")) && len(b.LogDirs) > 0 {
		cfg.DataDir = b.LogDirs[0]
	}
	if err := b.Validate(); err != nil {
		return server.Config{}, fmt.Errorf("broker config: %w", err)
	}
	if err := b.CheckSupported(); err != nil {
		return server.Config{}, fmt.Errorf("config file %s: %w", sf.configFile, err)
	}
	if changed("kafka-addr") && hasKey(b.Raw, "listeners") {
		// --kafka-addr is one PLAINTEXT listener: it must not replace a secured one.
		served, err := b.ServedListeners()
		if err != nil {
			return server.Config{}, fmt.Errorf("config file %s: %w", sf.configFile, err)
		}
		for _, l := range served {
			name, _, _ := strings.Cut(l, "://")
			if p := b.ListenerProtocol(name); p != "PLAINTEXT" {
				return server.Config{}, fmt.Errorf("--kafka-addr opens a PLAINTEXT listener, but listeners asks for %s (%s); drop --kafka-addr or the listeners setting", p, l)
			}
		}
	}
	if !changed("kafka-addr") && hasKey(b.Raw, "listeners") {
		// The listeners setting (with listener.security.protocol.map) decides: every listener
		// is opened with its protocol (CheckSupported has checked they can be served).
		if _, err := b.ServedListeners(); err != nil {
			return server.Config{}, fmt.Errorf("config file %s: %w", sf.configFile, err)
		}
		cfg.KafkaAddr = ""
	}
	cc, err := server.ParseClusterFlags(server.ClusterFlags{
		NodeID: sf.nodeID, NodeIDSet: changed("node-id"), ClusterAddr: sf.clusterAddr,
		ControllerVoters: sf.controllerVoters, MetadataEndpoints: sf.metadataEndpoints, Logger: logger,
		DataDir: cfg.DataDir,
	})
	if err != nil {
		return server.Config{}, usagef("%v", err)
	}
	if !cc.Enabled() && changed("node-id") {
		// Without a cluster --node-id only names the broker.
		if err := b.Set("node.id", strconv.Itoa(int(sf.nodeID))); err != nil {
			return server.Config{}, usagef("--node-id: %v", err)
		}
	}
	cfg.Cluster = cc
	if sf.advertisedKafka != "" {
		if _, _, err := net.SplitHostPort(sf.advertisedKafka); err != nil {
			return server.Config{}, usagef("--advertised-kafka-addr %q: want HOST:PORT", sf.advertisedKafka)
		}
		cfg.AdvertisedKafkaAddr = sf.advertisedKafka
	}
	cfg.Broker = b
	return cfg, nil
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// newLogger returns a slog logger writing to w at level in format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil || strings.ContainsAny(level, "+-") {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}
