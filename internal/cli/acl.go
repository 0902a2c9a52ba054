package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (a *app) aclCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, list and remove ACLs",
		Long: `Manage ACLs over the Kafka protocol (CreateAcls, DescribeAcls, DeleteAcls), with
Kafka's semantics: a DENY wins over any ALLOW; READ, WRITE, DELETE and ALTER
imply DESCRIBE; --prefixed matches every resource whose name starts with the
name given; the principal User:* means every user. The broker must run with
samsa.authorizer=acl (or authorizer.class.name).`,
		Example: `  samsa acl add --allow User:alice --operation read,describe --topic orders
  samsa acl add --allow User:alice --operation read --group billing-
  samsa acl add --allow User:etl --operation write --topic raw- --prefixed
  samsa acl add --deny User:* --host 10.0.0.66 --operation all --topic orders
  samsa acl list
  samsa acl remove --allow User:alice --operation read --topic orders`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(a.aclAddCmd(), a.aclListCmd(), a.aclRemoveCmd())
	return cmd
}

// aclFlags describe one set of ACL bindings: principals allowed and/or denied, hosts,
// operations and resources.
type aclFlags struct {
	allow, deny    []string
	hosts          []string
	ops            []string
	topics, groups []string
	txnIDs         []string
	cluster        bool
	prefixed       bool
}

func (f *aclFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.allow, "allow", nil, "principals to allow (User:NAME or User:*)")
	fl.StringSliceVar(&f.deny, "deny", nil, "principals to deny")
	fl.StringSliceVar(&f.hosts, "host", []string{"*"}, "client IPs the binding applies to")
	fl.StringSliceVar(&f.ops, "operation", nil, "operations: read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write, all")
	fl.StringSliceVar(&f.topics, "topic", nil, "topic names (or prefixes with --prefixed); * is every topic")
	fl.StringSliceVar(&f.groups, "group", nil, "consumer group ids (or prefixes)")
	fl.StringSliceVar(&f.txnIDs, "transactional-id", nil, "transactional ids (or prefixes)")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	fl.BoolVar(&f.prefixed, "prefixed", false, "resource names are prefixes (PREFIXED pattern) instead of literal names")
}

func (f *aclFlags) builder() (*kadm.ACLBuilder, error) {
	if len(f.allow)+len(f.deny) == 0 {
		return nil, usagef("give --allow or --deny principals")
	}
	for _, p := range append(append([]string{}, f.allow...), f.deny...) {
		if typ, name, ok := strings.Cut(p, ":"); !ok || typ == "" || name == "" {
			return nil, usagef("principal %q: want TYPE:NAME, e.g. User:alice", p)
		}
	}
	if len(f.ops) == 0 {
		return nil, usagef("give --operation")
	}
	var ops []kadm.ACLOperation
	for _, o := range f.ops {
		op, err := kmsg.ParseACLOperation(o)
		if err != nil || op == kmsg.ACLOperationAny || op == kmsg.ACLOperationUnknown {
			return nil, usagef("--operation %q: unknown operation", o)
		}
		ops = append(ops, op)
	}
	if len(f.topics)+len(f.groups)+len(f.txnIDs) == 0 && !f.cluster {
		return nil, usagef("give a resource: --topic, --group, --transactional-id or --cluster")
	}
	b := kadm.NewACLs().Operations(ops...)
	if len(f.allow) > 0 {
		b.Allow(f.allow...).AllowHosts(f.hosts...)
	}
	if len(f.deny) > 0 {
		b.Deny(f.deny...).DenyHosts(f.hosts...)
	}
	if len(f.topics) > 0 {
		b.Topics(f.topics...)
	}
	if len(f.groups) > 0 {
		b.Groups(f.groups...)
	}
	if len(f.txnIDs) > 0 {
		b.TransactionalIDs(f.txnIDs...)
	}
	if f.cluster {
		b.Clusters()
	}
	if f.prefixed {
		b.ResourcePatternType(kadm.ACLPatternPrefixed)
	} else {
		b.ResourcePatternType(kadm.ACLPatternLiteral)
	}
	return b, nil
}

func (a *app) aclAddCmd() *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add ACLs",
		Args:  exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := f.builder()
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
			res, err := adm.CreateACLs(ctx, b)
			if err != nil {
				return a.explain("add ACLs", err)
			}
			for _, r := range res {
				if r.Err != nil {
					return fmt.Errorf("add ACL %s %s on %s %s: %w%s", r.Permission, r.Principal, r.Type, r.Name, r.Err, msgSuffix(r.ErrMessage))
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d ACLs added\n", len(res))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) aclRemoveCmd() *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:     "remove",
		Aliases: []string{"rm"},
		Short:   "Remove the ACLs matching exactly the bindings given",
		Args:    exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := f.builder()
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
			res, err := adm.DeleteACLs(ctx, b)
			if err != nil {
				return a.explain("remove ACLs", err)
			}
			n := 0
			for _, r := range res {
				if r.Err != nil {
					return fmt.Errorf("remove ACLs: %w%s", r.Err, msgSuffix(r.ErrMessage))
				}
				n += len(r.Deleted)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d ACLs removed\n", n)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

type aclJSON struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
}

func (a *app) aclListCmd() *cobra.Command {
	var output, principal string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List ACLs (all, or those of one principal)",
		Example: `  samsa acl list
  samsa acl list --principal User:alice -o json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			jsonOut, err := parseOutput(output)
			if err != nil {
				return err
			}
			cl, err := a.newClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			req := kmsg.NewPtrDescribeACLsRequest()
			req.ResourceType = kmsg.ACLResourceTypeAny
			req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
			req.Operation = kmsg.ACLOperationAny
			req.PermissionType = kmsg.ACLPermissionTypeAny
			if principal != "" {
				req.Principal = &principal
			}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return a.explain("list ACLs", err)
			}
			if err := kerrOf(resp.ErrorCode); err != nil {
				return fmt.Errorf("list ACLs: %w", err)
			}
			out := []aclJSON{}
			for _, r := range resp.Resources {
				for _, e := range r.ACLs {
					out = append(out, aclJSON{Principal: e.Principal, Host: e.Host, Operation: strings.ToLower(e.Operation.String()),
						Permission: strings.ToLower(e.PermissionType.String()), ResourceType: strings.ToLower(r.ResourceType.String()),
						ResourceName: r.ResourceName, PatternType: strings.ToLower(r.ResourcePatternType.String())})
				}
			}
			sort.Slice(out, func(i, j int) bool {
				x, y := out[i], out[j]
				if x.ResourceType != y.ResourceType {
					return x.ResourceType < y.ResourceType
				}
				if x.ResourceName != y.ResourceName {
					return x.ResourceName < y.ResourceName
				}
				if x.Principal != y.Principal {
					return x.Principal < y.Principal
				}
				return x.Operation < y.Operation
			})
			if jsonOut {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			t := newTable(cmd.OutOrStdout(), "PRINCIPAL", "HOST", "PERMISSION", "OPERATION", "RESOURCE", "NAME", "PATTERN")
			for _, e := range out {
				t.row(e.Principal, e.Host, e.Permission, e.Operation, e.ResourceType, e.ResourceName, e.PatternType)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().StringVar(&principal, "principal", "", "only the ACLs of this principal")
	return cmd
}

func kerrOf(code int16) error { return kerr.ErrorForCode(code) }
