package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Shell completion (`samsa completion bash|zsh|fish|powershell`, cobra's generator) completes
// topic and group names by asking the cluster named by --brokers, like any other command
// would. A cluster that does not answer within completionTimeout completes nothing.

// completionTimeout bounds the cluster lookup behind one completion, so that a dead broker
// never hangs the shell.
const completionTimeout = 2 * time.Second

// nameLister lists the names a completion offers.
type nameLister func(ctx context.Context, adm *kadm.Client) ([]string, error)

func listTopicNames(ctx context.Context, adm *kadm.Client) ([]string, error) {
	topics, err := adm.ListTopics(ctx) // without internal topics
	if err != nil {
		return nil, err
	}
	return topics.Names(), nil
}

func listGroupNames(ctx context.Context, adm *kadm.Client) ([]string, error) {
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	return groups.Groups(), nil
}

// addCompletions attaches name completion to the commands and flags that take topic and
// group names.
func (a *app) addCompletions(root *cobra.Command) {
	args := map[string]struct {
		list nameLister
		max  int // how many names the command takes (-1: any number)
	}{
		"samsa topic describe":      {listTopicNames, -1},
		"samsa topic alter":         {listTopicNames, -1},
		"samsa topic delete":        {listTopicNames, -1},
		"samsa produce":             {listTopicNames, 1},
		"samsa consume":             {listTopicNames, -1},
		"samsa group describe":      {listGroupNames, -1},
		"samsa group delete":        {listGroupNames, -1},
		"samsa group reset-offsets": {listGroupNames, 1},
	}
	topicFlags := map[string]bool{
		"samsa group reset-offsets": true,
		"samsa bench produce":       true,
		"samsa bench consume":       true,
		"samsa bench e2e":           true,
		"samsa bench nexmark":       true,
	}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if c, ok := args[cmd.CommandPath()]; ok {
			cmd.ValidArgsFunction = a.completeNames(c.list, c.max)
		}
		if topicFlags[cmd.CommandPath()] {
			topics := a.completeNames(listTopicNames, -1)
			_ = cmd.RegisterFlagCompletionFunc("topic", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return topics(cmd, nil, toComplete) // the arguments are not topics
			})
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeNames returns a completion function offering the names list returns that start
// with what is typed and are not among the arguments already given; once max arguments are
// given (max ≥ 0) it offers nothing.
func (a *app) completeNames(list nameLister, max int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, given []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max >= 0 && len(given) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		adm, err := a.admin()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer adm.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), min(a.timeout, completionTimeout))
		defer cancel()
		names, err := list(ctx, adm)
		if err != nil {
			cobra.CompDebugln("samsa: "+a.explain("complete", err).Error(), true)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		slices.Sort(names)
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) && !slices.Contains(given, n) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
