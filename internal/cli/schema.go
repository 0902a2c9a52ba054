package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/serde"
)

// defaultRegistry is the --registry default when $SAMSA_REGISTRY is unset.
const defaultRegistry = serde.DefaultRegistryURL

// registryFlag adds --registry to fs, bound to a.registryURL.
func (a *app) registryFlag(fs *pflag.FlagSet) {
	def := a.streams.Getenv("SAMSA_REGISTRY")
	if def == "" {
		def = defaultRegistry
	}
	fs.StringVar(&a.registryURL, "registry", def, "schema registry URL(s), comma-separated (env SAMSA_REGISTRY)")
}

// registry returns a caching client of the registries named by --registry.
func (a *app) registry() (*serde.Registry, error) {
	var urls []string
	for u := range strings.SplitSeq(a.registryURL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, usagef("--registry is empty")
	}
	if a.timeout <= 0 {
		return nil, usagef("--timeout must be > 0, got %v", a.timeout)
	}
	reg, err := serde.NewRegistry(serde.RegistryConfig{URLs: urls, Timeout: a.timeout})
	if err != nil {
		return nil, usagef("--registry %q: %v", a.registryURL, err)
	}
	return reg, nil
}

// explainRegistry wraps err from registry operation what, adding a hint
// when the registry could not be reached.
func (a *app) explainRegistry(what string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer from the schema registry at %s (is one running there? see --registry, --timeout): %w", what, a.registryURL, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// schemaCall is what a schema subcommand runs with: a registry client, a context bounded by
// --timeout, where to print and whether -o json was asked for.
type schemaCall struct {
	ctx     context.Context
	cl      *sr.Client
	out     io.Writer
	jsonOut bool
}

// schemaCmdSpec is one schema subcommand: its cobra fields, an optional prepare step (flag
// checks and input reading, done before the registry is contacted and the --timeout clock
// starts) and run, the registry work.
type schemaCmdSpec struct {
	cmd     cobra.Command
	output  bool // the command takes -o/--output text|json
	prepare func(cmd *cobra.Command, args []string) error
	run     func(c *schemaCall, args []string) error
}

// schemaSubcommand builds a schema subcommand from spec: the -o flag when asked for, and a
// RunE that parses it, prepares, opens the registry client and runs spec.run within
// --timeout.
func (a *app) schemaSubcommand(spec schemaCmdSpec) *cobra.Command {
	cmd := &spec.cmd
	var output string
	if spec.output {
		cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		jsonOut, err := parseOutput(output)
		if err != nil {
			return err
		}
		if spec.prepare != nil {
			if err := spec.prepare(cmd, args); err != nil {
				return err
			}
		}
		reg, err := a.registry()
		if err != nil {
			return err
		}
		ctx, cancel := a.opCtx(cmd.Context())
		defer cancel()
		return spec.run(&schemaCall{ctx: ctx, cl: reg.Client(), out: cmd.OutOrStdout(), jsonOut: jsonOut}, args)
	}
	return cmd
}

func (a *app) schemaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Register, inspect, check and delete schemas in a schema registry",
		Long: `Talk to a Confluent-compatible schema registry (Samsa's, served by
"samsa serve" on --registry-addr, or Confluent's, or Redpanda's) at --registry
(default $SAMSA_REGISTRY, else ` + defaultRegistry + `).

A subject is a named list of schema versions; by convention "<topic>-value"
and "<topic>-key" hold the schemas of a topic's values and keys. Each distinct
schema has a global id, the one the Confluent wire format puts in front of
every record.`,
		Example: `  samsa schema register orders-value --file order.avsc
  samsa schema list
  samsa schema versions orders-value
  samsa schema get orders-value --version latest
  samsa schema get --id 3 -o json
  samsa schema check orders-value --file order-v2.avsc
  samsa schema config orders-value --compatibility FULL
  samsa schema delete orders-value --version 1`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	a.registryFlag(cmd.PersistentFlags())
	cmd.AddCommand(a.schemaRegisterCmd(), a.schemaGetCmd(), a.schemaListCmd(), a.schemaVersionsCmd(),
		a.schemaCheckCmd(), a.schemaDeleteCmd(), a.schemaConfigCmd())
	return cmd
}

// schemaInput is the flags that give a schema: its text, type and
// references.
type schemaInput struct {
	file, text, typ string
	refs            []string
}

func (in *schemaInput) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&in.file, "file", "f", "", `read the schema from FILE ("-" for stdin)`)
	f.StringVar(&in.text, "schema", "", "the schema text itself")
	f.StringVar(&in.typ, "type", "", "schema type: avro, json or protobuf (default: from the --file, as produce --value-schema decides; else avro)")
	f.StringArrayVar(&in.refs, "reference", nil, "a referenced schema NAME=SUBJECT:VERSION (repeatable)")
	cmd.MarkFlagsOneRequired("file", "schema")
	cmd.MarkFlagsMutuallyExclusive("file", "schema")
}

// schema reads and checks the schema the flags give.
func (in *schemaInput) schema(stdin io.Reader) (sr.Schema, error) {
	var s sr.Schema
	typ := in.typ
	if typ == "" {
		typ = "avro"
	}
	if err := s.Type.UnmarshalText([]byte(typ)); err != nil {
		return s, usagef("--type %q: want avro, json or protobuf", in.typ)
	}
	for _, r := range in.refs {
		name, at, ok := strings.Cut(r, "=")
		subject, version, ok2 := strings.Cut(at, ":")
		v, err := strconv.Atoi(version)
		if !ok || !ok2 || name == "" || subject == "" || err != nil || v < 1 {
			return s, usagef("--reference %q: want NAME=SUBJECT:VERSION", r)
		}
		s.References = append(s.References, sr.SchemaReference{Name: name, Subject: subject, Version: v})
	}
	s.Schema = in.text
	if in.file != "" {
		var b []byte
		var err error
		if in.file == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(in.file)
		}
		if err != nil {
			return s, fmt.Errorf("read schema: %w", err)
		}
		s.Schema = string(b)
		if in.typ == "" {
			s.Type = schemaFileType(in.file, b)
		}
	}
	if strings.TrimSpace(s.Schema) == "" {
		return s, usagef("the schema is empty")
	}
	return s, nil
}

// parseVersion reads a --version value: a number ≥ 1 or "latest" (-1).
func parseVersion(s string) (int, error) {
	if strings.EqualFold(s, "latest") {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, usagef("--version %q: want a version number ≥ 1 or latest", s)
	}
	return v, nil
}

type schemaRegisterJSON struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	Registered bool   `json:"registered"` // false: the subject already had it
}

func (a *app) schemaRegisterCmd() *cobra.Command {
	var (
		in schemaInput
		s  sr.Schema
	)
	cmd := a.schemaSubcommand(schemaCmdSpec{
		cmd: cobra.Command{
			Use:   "register SUBJECT",
			Short: "Register a schema under a subject (or find it already there)",
			Long: `Register a schema as the next version of SUBJECT. The registry refuses a
schema that is invalid or incompatible with the subject's earlier versions
under its compatibility level (see "samsa schema config"). A schema the
subject already has is not registered again; its version and id are printed.`,
			Example: `  samsa schema register orders-value --file order.avsc
  samsa schema register orders-key --schema '"string"'
  samsa schema register customers-value -f customer.avsc --reference shop.Address=address:1`,
			Args: exactArgs(1, "subject"),
		},
		output: true,
		prepare: func(cmd *cobra.Command, _ []string) (err error) {
			s, err = in.schema(cmd.InOrStdin())
			return err
		},
		run: func(c *schemaCall, args []string) error {
			subject := args[0]
			res := schemaRegisterJSON{Subject: subject}
			ss, err := c.cl.LookupSchema(c.ctx, subject, s)
			if isRegistryCode(err, 40401, 40403) {
				if _, err = c.cl.RegisterSchema(c.ctx, subject, s, -1, -1); err != nil {
					return a.explainRegistry("register schema under "+subject, err)
				}
				res.Registered = true
				ss, err = c.cl.LookupSchema(c.ctx, subject, s)
			}
			if err != nil {
				return a.explainRegistry("look up schema under "+subject, err)
			}
			res.Version, res.ID = ss.Version, ss.ID
			switch {
			case c.jsonOut:
				return writeJSON(c.out, res)
			case res.Registered:
				fmt.Fprintf(c.out, "Registered schema id %d as version %d of subject %s.\n", res.ID, res.Version, subject)
			default:
				fmt.Fprintf(c.out, "Subject %s already has this schema: version %d, id %d.\n", subject, res.Version, res.ID)
			}
			return nil
		},
	})
	in.flags(cmd)
	return cmd
}

type schemaJSON struct {
	Subject    string               `json:"subject,omitempty"`
	Version    int                  `json:"version,omitempty"`
	ID         int                  `json:"id"`
	Type       string               `json:"schemaType"`
	Schema     string               `json:"schema"`
	References []sr.SchemaReference `json:"references"`
}

func (a *app) schemaGetCmd() *cobra.Command {
	var (
		version string
		v, id   int
	)
	cmd := a.schemaSubcommand(schemaCmdSpec{
		cmd: cobra.Command{
			Use:   "get [SUBJECT]",
			Short: "Print a schema, by subject and version or by id",
			Long: `Print the schema text of SUBJECT's --version (default latest), or of the
schema with global id --id. With -o json, print it with its subject, version,
id, type and references.`,
			Example: `  samsa schema get orders-value > order.avsc
  samsa schema get orders-value --version 2 -o json
  samsa schema get --id 7`,
			Args: func(cmd *cobra.Command, args []string) error {
				if cmd.Flags().Changed("id") == (len(args) == 1) || len(args) > 1 {
					return usagef("%s takes either a SUBJECT or --id", cmd.CommandPath())
				}
				if cmd.Flags().Changed("id") && cmd.Flags().Changed("version") {
					return usagef("--version needs a SUBJECT, not --id")
				}
				return nil
			},
		},
		output: true,
		prepare: func(cmd *cobra.Command, _ []string) (err error) {
			if cmd.Flags().Changed("id") && id < 0 {
				return usagef("--id %d: want ≥ 0", id)
			}
			v, err = parseVersion(version)
			return err
		},
		run: func(c *schemaCall, args []string) error {
			var res schemaJSON
			if len(args) == 1 {
				ss, err := c.cl.SchemaByVersion(c.ctx, args[0], v)
				if err != nil {
					return a.explainRegistry(fmt.Sprintf("get version %s of subject %s", version, args[0]), err)
				}
				res = schemaJSON{Subject: ss.Subject, Version: ss.Version, ID: ss.ID, Type: ss.Type.String(), Schema: ss.Schema.Schema, References: ss.References}
			} else {
				s, err := c.cl.SchemaByID(c.ctx, id)
				if err != nil {
					return a.explainRegistry(fmt.Sprintf("get schema id %d", id), err)
				}
				res = schemaJSON{ID: id, Type: s.Type.String(), Schema: s.Schema, References: s.References}
			}
			if res.References == nil {
				res.References = []sr.SchemaReference{}
			}
			if c.jsonOut {
				return writeJSON(c.out, res)
			}
			_, err := fmt.Fprintln(c.out, strings.TrimRight(res.Schema, "\n"))
			return err
		},
	})
	f := cmd.Flags()
	f.StringVar(&version, "version", "latest", "version of SUBJECT: a number or latest")
	f.IntVar(&id, "id", 0, "global schema id (instead of SUBJECT)")
	return cmd
}

func (a *app) schemaListCmd() *cobra.Command {
	var (
		deleted bool
		prefix  string
	)
	cmd := a.schemaSubcommand(schemaCmdSpec{
		cmd: cobra.Command{
			Use:     "list",
			Aliases: []string{"ls"},
			Short:   "List subjects",
			Example: `  samsa schema list
  samsa schema list --prefix orders --deleted -o json`,
			Args: exactArgs(0, "none"),
		},
		output: true,
		run: func(c *schemaCall, _ []string) error {
			subjects, err := c.cl.Subjects(showDeleted(c.ctx, deleted))
			if err != nil {
				return a.explainRegistry("list subjects", err)
			}
			keep := subjects[:0]
			for _, s := range subjects {
				if strings.HasPrefix(s, prefix) {
					keep = append(keep, s)
				}
			}
			return printList(c.out, c.jsonOut, keep)
		},
	})
	f := cmd.Flags()
	f.BoolVar(&deleted, "deleted", false, "include soft-deleted subjects")
	f.StringVar(&prefix, "prefix", "", "only subjects starting with PREFIX")
	return cmd
}

// showDeleted asks the registry to include soft-deleted subjects or versions when deleted.
func showDeleted(ctx context.Context, deleted bool) context.Context {
	if deleted {
		return sr.WithParams(ctx, sr.ShowDeleted)
	}
	return ctx
}

// printList writes items one per line, or as one JSON array.
func printList[T any](w io.Writer, jsonOut bool, items []T) error {
	if jsonOut {
		if items == nil {
			items = []T{}
		}
		return writeJSON(w, items)
	}
	for _, it := range items {
		if _, err := fmt.Fprintln(w, it); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) schemaVersionsCmd() *cobra.Command {
	var deleted bool
	cmd := a.schemaSubcommand(schemaCmdSpec{
		cmd: cobra.Command{
			Use:   "versions SUBJECT",
			Short: "List the versions of a subject",
			Example: `  samsa schema versions orders-value
  samsa schema versions orders-value --deleted -o json`,
			Args: exactArgs(1, "subject"),
		},
		output: true,
		run: func(c *schemaCall, args []string) error {
			versions, err := c.cl.SubjectVersions(showDeleted(c.ctx, deleted), args[0])
			if err != nil {
				return a.explainRegistry("list versions of "+args[0], err)
			}
			return printList(c.out, c.jsonOut, versions)
		},
	})
	cmd.Flags().BoolVar(&deleted, "deleted", false, "include soft-deleted versions")
	return cmd
}

type schemaCheckJSON struct {
	Subject    string   `json:"subject"`
	Version    string   `json:"version"`
	Compatible bool     `json:"compatible"`
	Messages   []string `json:"messages"`
}

func (a *app) schemaCheckCmd() *cobra.Command {
	var (
		in      schemaInput
		version string
		v       int
		s       sr.Schema
	)
	cmd := a.schemaSubcommand(schemaCmdSpec{
		cmd: cobra.Command{
			Use:   "check SUBJECT",
			Short: "Check whether a schema could be registered under a subject",
			Long: `Ask the registry whether a schema is compatible with SUBJECT's --version
(a number, latest, or all), under the subject's compatibility level. Nothing
is registered. The exit code is 0 when it is compatible and 1 when it is not,
with the registry's reasons printed.`,
			Example: `  samsa schema check orders-value --file order-v2.avsc
  samsa schema check orders-value -f order-v2.avsc --version all -o json`,
			Args: exactArgs(1, "subject"),
		},
		output: true,
		prepare: func(cmd *cobra.Command, _ []string) (err error) {
			v = -2 // all
			if !strings.EqualFold(version, "all") {
				if v, err = parseVersion(version); err != nil {
					return usagef("--version %q: want a version number, latest or all", version)
				}
			}
			s, err = in.schema(cmd.InOrStdin())
			return err
		},
		run: func(c *schemaCall, args []string) error {
			subject := args[0]
			res, err := c.cl.CheckCompatibility(sr.WithParams(c.ctx, sr.Verbose), subject, v, s)
			if err != nil {
				return a.explainRegistry("check compatibility with "+subject, err)
			}
			if c.jsonOut {
				msgs := res.Messages
				if msgs == nil {
					msgs = []string{}
				}
				if err := writeJSON(c.out, schemaCheckJSON{Subject: subject, Version: version, Compatible: res.Is, Messages: msgs}); err != nil {
					return err
				}
			} else if res.Is {
				fmt.Fprintf(c.out, "Compatible with subject %s version %s.\n", subject, version)
			} else {
				fmt.Fprintf(c.out, "Not compatible with subject %s version %s:\n", subject, version)
				for _, m := range res.Messages {
					fmt.Fprintf(c.out, "  - %s\n", m)
				}
			}
			if !res.Is {
				return fmt.Errorf("the schema is not compatible with subject %s version %s", subject, version)
			}
			return nil
		},
	})
	in.flags(cmd)
	cmd.Flags().StringVar(&version, "version", "latest", "version to check against: a number, latest or all")
	return cmd
}

func (a *app) schemaDeleteCmd() *cobra.Command {
	var (
		version   string
		v         int
		permanent bool
	)
	cmd := a.schemaSubcommand(schemaCmdSpec{
		cmd: cobra.Command{
			Use:   "delete SUBJECT",
			Short: "Delete a subject, or one version of it",
			Long: `Soft-delete SUBJECT (all its versions) or its --version. A soft-deleted
schema is hidden from the subject but still readable by id, so records
already written with it stay readable. --permanent also removes it for good
(soft-deleting first if needed); do that only when no record uses it.`,
			Example: `  samsa schema delete orders-value
  samsa schema delete orders-value --version 1 --permanent`,
			Args: exactArgs(1, "subject"),
		},
		prepare: func(*cobra.Command, []string) (err error) {
			v = 0
			if version != "" {
				v, err = parseVersion(version)
			}
			return err
		},
		run: func(c *schemaCall, args []string) error {
			subject := args[0]
			if v != 0 {
				err := c.cl.DeleteSchema(c.ctx, subject, v, sr.SoftDelete)
				if permanent && isRegistryCode(err, 40406) {
					err = nil // already soft-deleted
				}
				if err == nil && permanent {
					err = c.cl.DeleteSchema(c.ctx, subject, v, sr.HardDelete)
				}
				if err != nil {
					return a.explainRegistry(fmt.Sprintf("delete version %s of %s", version, subject), err)
				}
				fmt.Fprintf(c.out, "%s version %s of subject %s.\n", deleted(permanent), version, subject)
				return nil
			}
			versions, err := c.cl.DeleteSubject(c.ctx, subject, sr.SoftDelete)
			if permanent && isRegistryCode(err, 40404) {
				err = nil // already soft-deleted
			}
			if err == nil && permanent {
				versions, err = c.cl.DeleteSubject(c.ctx, subject, sr.HardDelete)
			}
			if err != nil {
				return a.explainRegistry("delete subject "+subject, err)
			}
			vs := make([]string, len(versions))
			for i, v := range versions {
				vs[i] = strconv.Itoa(v)
			}
			fmt.Fprintf(c.out, "%s subject %s (versions %s).\n", deleted(permanent), subject, strings.Join(vs, ", "))
			return nil
		},
	})
	cmd.Flags().StringVar(&version, "version", "", "delete only this version (a number or latest)")
	cmd.Flags().BoolVar(&permanent, "permanent", false, "remove for good, not just hide")
	return cmd
}

func deleted(permanent bool) string {
	if permanent {
		return "Permanently deleted"
	}
	return "Deleted"
}

type schemaConfigJSON struct {
	Subject       string `json:"subject,omitempty"` // empty: global
	Compatibility string `json:"compatibility"`
	Inherited     bool   `json:"inherited,omitempty"` // the subject sets none; this is the global level
}

func (a *app) schemaConfigCmd() *cobra.Command {
	var (
		level  string
		lvl    sr.CompatibilityLevel
		remove bool
	)
	cmd := a.schemaSubcommand(schemaCmdSpec{
		cmd: cobra.Command{
			Use:   "config [SUBJECT]",
			Short: "Show or set the compatibility level (global, or of one subject)",
			Long: `Show the compatibility level new schemas are checked against: the global
one, or SUBJECT's (which falls back to the global one when the subject sets
none). --compatibility sets it; --delete removes SUBJECT's own level (or
resets the global one).

Levels: BACKWARD (the default: new schemas read data of the latest), FORWARD
(the latest reads data of new schemas), FULL (both), their _TRANSITIVE forms
(against every version, not only the latest), and NONE.`,
			Example: `  samsa schema config
  samsa schema config orders-value --compatibility FULL_TRANSITIVE
  samsa schema config orders-value --delete`,
			Args: func(cmd *cobra.Command, args []string) error {
				if len(args) > 1 {
					return usagef("%s takes at most one argument (subject), got %d", cmd.CommandPath(), len(args))
				}
				return nil
			},
		},
		output: true,
		prepare: func(*cobra.Command, []string) error {
			if level != "" {
				if err := lvl.UnmarshalText([]byte(level)); err != nil {
					return usagef("--compatibility %q: want NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE", level)
				}
			}
			return nil
		},
		run: func(c *schemaCall, args []string) error {
			subject, name := "", "the global level"
			if len(args) == 1 {
				subject, name = args[0], "subject "+args[0]
			}
			switch {
			case level != "":
				r := c.cl.SetCompatibility(c.ctx, sr.SetCompatibility{Level: lvl}, subject)[0]
				if r.Err != nil {
					return a.explainRegistry("set compatibility of "+name, r.Err)
				}
				if !c.jsonOut {
					fmt.Fprintf(c.out, "Set the compatibility of %s to %s.\n", name, r.Level)
					return nil
				}
			case remove:
				if r := c.cl.ResetCompatibility(c.ctx, subject)[0]; r.Err != nil {
					return a.explainRegistry("delete compatibility of "+name, r.Err)
				}
				if !c.jsonOut {
					if subject == "" {
						fmt.Fprintln(c.out, "Reset the global compatibility level to the registry's default.")
					} else {
						fmt.Fprintf(c.out, "Removed the compatibility level of %s; it follows the global level.\n", name)
					}
					return nil
				}
			}
			res := schemaConfigJSON{Subject: subject}
			r := c.cl.Compatibility(c.ctx, subject)[0]
			if subject != "" && isRegistryCode(r.Err, 40408) {
				res.Inherited = true
				r = c.cl.Compatibility(c.ctx)[0]
			}
			if r.Err != nil {
				return a.explainRegistry("get compatibility of "+name, r.Err)
			}
			res.Compatibility = r.Level.String()
			switch {
			case c.jsonOut:
				return writeJSON(c.out, res)
			case subject == "":
				fmt.Fprintf(c.out, "Global compatibility: %s\n", res.Compatibility)
			case res.Inherited:
				fmt.Fprintf(c.out, "Compatibility of %s: %s (the global level; the subject sets none)\n", subject, res.Compatibility)
			default:
				fmt.Fprintf(c.out, "Compatibility of %s: %s\n", subject, res.Compatibility)
			}
			return nil
		},
	})
	cmd.Flags().StringVar(&level, "compatibility", "", "set the level: NONE, BACKWARD, FORWARD, FULL, or *_TRANSITIVE")
	cmd.Flags().BoolVar(&remove, "delete", false, "remove the subject's own level (global: reset to the default)")
	cmd.MarkFlagsMutuallyExclusive("compatibility", "delete")
	return cmd
}

// isRegistryCode reports whether err is a registry response with one of
// codes.
func isRegistryCode(err error, codes ...int) bool {
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.ErrorCode == c {
			return true
		}
	}
	return false
}
