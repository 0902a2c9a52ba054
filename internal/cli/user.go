package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func (a *app) userCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, list and delete SASL/SCRAM users",
		Long: `Manage the users SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and HTTP basic auth
check, over the Kafka protocol (Describe/AlterUserScramCredentials), so it works
against any Kafka cluster. The password is read from standard input (its first
line) and only a salted hash of it reaches the broker.`,
		Example: `  echo 's3cret' | samsa user create alice
  samsa user list
  samsa user delete alice`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(a.userCreateCmd(), a.userListCmd(), a.userDeleteCmd())
	return cmd
}

func parseScramMechanisms(s string) ([]kadm.ScramMechanism, error) {
	var out []kadm.ScramMechanism
	for _, m := range strings.Split(s, ",") {
		switch strings.ToUpper(strings.TrimSpace(m)) {
		case "SCRAM-SHA-256":
			out = append(out, kadm.ScramSha256)
		case "SCRAM-SHA-512":
			out = append(out, kadm.ScramSha512)
		case "":
		default:
			return nil, usagef("--mechanism %q: want SCRAM-SHA-256 and/or SCRAM-SHA-512", m)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--mechanism is empty")
	}
	return out, nil
}

func (a *app) userCreateCmd() *cobra.Command {
	var mechs string
	var iterations int32
	cmd := &cobra.Command{
		Use:     "create NAME",
		Aliases: []string{"set-password"},
		Short:   "Create a user or change its password (read from stdin)",
		Example: `  echo 's3cret' | samsa user create alice
  samsa user create alice --mechanism SCRAM-SHA-512 --iterations 8192 < password.txt`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := parseScramMechanisms(mechs)
			if err != nil {
				return err
			}
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			pass := strings.TrimRight(line, "\r\n")
			if pass == "" {
				if err != nil && line == "" {
					return usagef("no password on standard input")
				}
				return usagef("empty password on standard input")
			}
			adm, err := a.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			var ups []kadm.UpsertSCRAM
			for _, m := range ms {
				ups = append(ups, kadm.UpsertSCRAM{User: args[0], Mechanism: m, Iterations: iterations, Password: pass})
			}
			res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
			if err != nil {
				return a.explain("create user", err)
			}
			if r, ok := res[args[0]]; ok && r.Err != nil {
				return fmt.Errorf("create user %s: %w%s", args[0], r.Err, msgSuffix(r.ErrMessage))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s credentials set\n", args[0], mechs)
			return nil
		},
	}
	cmd.Flags().StringVar(&mechs, "mechanism", "SCRAM-SHA-256,SCRAM-SHA-512", "SCRAM mechanisms to create credentials for")
	cmd.Flags().Int32Var(&iterations, "iterations", 4096, "PBKDF2 iterations (4096 to 16384)")
	return cmd
}

func msgSuffix(m string) string {
	if m == "" {
		return ""
	}
	return " (" + m + ")"
}

type userJSON struct {
	User       string   `json:"user"`
	Mechanisms []string `json:"mechanisms"`
	Iterations []int32  `json:"iterations"`
}

func (a *app) userListCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List users and their SCRAM mechanisms",
		Args:    exactArgs(0, "none"),
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
			ds, err := adm.DescribeUserSCRAMs(ctx)
			if err != nil {
				return a.explain("list users", err)
			}
			var out []userJSON
			for _, d := range ds.Sorted() {
				if d.Err != nil {
					return fmt.Errorf("list users: %s: %w", d.User, d.Err)
				}
				u := userJSON{User: d.User, Mechanisms: []string{}, Iterations: []int32{}}
				for _, c := range d.CredInfos {
					u.Mechanisms = append(u.Mechanisms, c.Mechanism.String())
					u.Iterations = append(u.Iterations, c.Iterations)
				}
				out = append(out, u)
			}
			if jsonOut {
				if out == nil {
					out = []userJSON{}
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			t := newTable(cmd.OutOrStdout(), "USER", "MECHANISM", "ITERATIONS")
			for _, u := range out {
				for i := range u.Mechanisms {
					t.row(u.User, u.Mechanisms[i], fmt.Sprint(u.Iterations[i]))
				}
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func (a *app) userDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a user (all its SCRAM credentials)",
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := a.admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			ds, err := adm.DescribeUserSCRAMs(ctx, args[0])
			if err != nil {
				return a.explain("delete user", err)
			}
			d := ds[args[0]]
			if d.Err != nil {
				return fmt.Errorf("delete user %s: %w%s", args[0], d.Err, msgSuffix(d.ErrMessage))
			}
			var dels []kadm.DeleteSCRAM
			for _, c := range d.CredInfos {
				dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: c.Mechanism})
			}
			if len(dels) == 0 {
				return errors.New("delete user " + args[0] + ": no credentials")
			}
			res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
			if err != nil {
				return a.explain("delete user", err)
			}
			if r := res[args[0]]; r.Err != nil {
				return fmt.Errorf("delete user %s: %w%s", args[0], r.Err, msgSuffix(r.ErrMessage))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted\n", args[0])
			return nil
		},
	}
	return cmd
}
