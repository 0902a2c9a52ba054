package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes returned by Run and Main.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command ran and failed
	ExitUsage   = 2 // the command line was wrong
)

// defaultBrokers is the --brokers default when $SAMSA_BROKERS is unset.
const defaultBrokers = "127.0.0.1:9092"

// Streams are the standard streams and environment a command runs with.
type Streams struct {
	In  io.Reader // nil → empty input
	Out io.Writer // nil → io.Discard
	Err io.Writer // nil → io.Discard
	// Getenv looks up environment variables; nil → os.Getenv.
	Getenv func(string) string
}

// Main runs the command line args (without the program name) against the
// process's standard streams, with SIGINT and SIGTERM cancelling the run. It
// returns the exit code (see ExitOK, ExitFailure, ExitUsage). A second signal
// after the first kills the process the default way.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore default handling: a second Ctrl-C kills
	}()
	return Run(ctx, args, Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
}

// Run executes one command line with the given streams and returns its exit
// code. Cancelling ctx is how a caller interrupts a streaming command.
func Run(ctx context.Context, args []string, s Streams) int {
	if s.In == nil {
		s.In = strings.NewReader("")
	}
	if s.Out == nil {
		s.Out = io.Discard
	}
	if s.Err == nil {
		s.Err = io.Discard
	}
	if s.Getenv == nil {
		s.Getenv = os.Getenv
	}
	a := &app{streams: s}
	root := a.newRoot()
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	msg := err.Error()
	// Everything that fails before a RunE runs is cobra rejecting the
	// command line: unknown command, bad flag, wrong argument count,
	// missing or conflicting flags.
	var ue *usageError
	usage := !a.started || errors.As(err, &ue)
	fmt.Fprintf(s.Err, "samsa: %s\n", msg)
	if usage {
		path := "samsa"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(s.Err, "Run '%s --help' for usage.\n", path)
		return ExitUsage
	}
	return ExitFailure
}

// usageError marks an error as the user's command line being wrong (exit
// code 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// app holds the global flags and streams shared by all commands of one Run.
type app struct {
	streams Streams
	// started is set once a command's RunE runs, i.e. cobra accepted the
	// command line.
	started bool

	brokers  string
	timeout  time.Duration
	clientID string

	// registryURL is --registry of the commands that use a schema
	// registry (schema, produce, consume).
	registryURL string

	sec securityFlags // security.go
}

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "samsa",
		Short: "Samsa: a Kafka-compatible streaming broker and its tools",
		Long: `Samsa is a Kafka-compatible streaming broker in one binary.

"samsa serve" runs the broker. The other commands are Kafka clients that work
against any Kafka-protocol cluster named by --brokers (default $SAMSA_BROKERS,
else ` + defaultBrokers + `).

Exit codes: 0 success, 1 failure, 2 usage error.`,
		Example: `  samsa serve --data-dir /var/lib/samsa
  samsa topic create orders --partitions 6
  seq 10 | samsa produce orders
  samsa consume orders --from-beginning --count 10
  samsa group describe billing
  samsa schema register orders-value --file order.avsc
  samsa bench produce --messages 1000000`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          subcommandArgs,
		RunE:          showHelp,
		Version:       readBuildInfo().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	brokers := a.streams.Getenv("SAMSA_BROKERS")
	if brokers == "" {
		brokers = defaultBrokers
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&a.brokers, "brokers", "b", brokers, "comma-separated bootstrap brokers HOST:PORT (env SAMSA_BROKERS)")
	pf.DurationVar(&a.timeout, "timeout", 10*time.Second, "how long to wait for the cluster on each admin request and produce delivery")
	pf.StringVar(&a.clientID, "client-id", "samsa-cli", "Kafka client ID to send")
	a.addSecurityFlags(pf)

	root.AddCommand(
		a.serveCmd(),
		a.topicCmd(),
		a.clusterCmd(),
		a.partitionCmd(),
		a.brokerCmd(),
		a.produceCmd(),
		a.consumeCmd(),
		a.groupCmd(),
		a.schemaCmd(),
		a.benchCmd(),
		a.userCmd(),
		a.aclCmd(),
		a.versionCmd(),
		a.recoverMetadataCmd(),
	)
	a.addCompletions(root) // completion.go
	markStarted(root, &a.started)
	return root
}

// markStarted wraps the RunE of cmd and its descendants to set *started:
// cobra validates arguments, required flags and flag groups before RunE, so
// an error returned before it is a usage error.
func markStarted(cmd *cobra.Command, started *bool) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*started = true
			return run(c, args)
		}
	}
	for _, sub := range cmd.Commands() {
		markStarted(sub, started)
	}
}

// subcommandArgs is the Args of commands that only group subcommands: any
// argument is an unknown subcommand.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return &usageError{errors.New(msg)}
}

// showHelp is the RunE of commands that only group subcommands.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// exactArgs, minArgs are cobra.PositionalArgs that name what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s) (%s), got %d", cmd.CommandPath(), n, what, len(args))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s needs at least %d argument(s) (%s), got %d", cmd.CommandPath(), n, what, len(args))
		}
		return nil
	}
}
