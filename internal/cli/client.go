package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// seeds splits --brokers into host:port seeds, rejecting an empty list.
func (a *app) seeds() ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(a.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--brokers is empty")
	}
	return out, nil
}

// clientOpts are the franz-go options every client of this run starts from.
func (a *app) clientOpts() ([]kgo.Opt, error) {
	seeds, err := a.seeds()
	if err != nil {
		return nil, err
	}
	if a.timeout <= 0 {
		return nil, usagef("--timeout must be > 0, got %v", a.timeout)
	}
	sec, err := a.securityOpts()
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(a.clientID),
		kgo.DialTimeout(a.timeout),
	}, sec...), nil
}

// newClient returns a kgo client with the base options plus extra. The
// caller closes it.
func (a *app) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := a.clientOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// admin returns an admin client; closing it closes its kgo client.
func (a *app) admin() (*kadm.Client, error) {
	cl, err := a.newClient()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(a.timeout, time.Hour).Milliseconds()))
	return adm, nil
}

// opCtx bounds one admin operation by --timeout.
func (a *app) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

// explain wraps err from operation what, adding a hint when no broker
// answered: the connection was refused or the cluster did not answer in time.
func (a *app) explain(what string, err error) error {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%s: no broker answers at %s (is one running there? see --brokers): %w", what, a.brokers, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer from %s within %v (is a broker running there? see --brokers, --timeout): %w", what, a.brokers, a.timeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ping checks that a broker of cl answers, within --timeout, so that a
// command that would otherwise buffer work and wait for a dead cluster
// fails at once.
func (a *app) ping(ctx context.Context, cl *kgo.Client, what string) error {
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return a.explain(what, err)
	}
	return nil
}

// parseKV splits "k=v" at the first '='; the key must not be empty.
func parseKV(flag, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", usagef("--%s %q: want KEY=VALUE", flag, s)
	}
	return k, v, nil
}

// parseTime accepts RFC 3339 (with or without fractional seconds) or Unix
// milliseconds and returns Unix milliseconds.
func parseTime(flag, s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return 0, usagef("--%s %q: negative Unix milliseconds", flag, s)
		}
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, usagef("--%s %q: want RFC 3339 (2006-01-02T15:04:05Z) or Unix milliseconds", flag, s)
	}
	return t.UnixMilli(), nil
}

// parseOutput validates an -o/--output value.
func parseOutput(s string) (jsonOut bool, err error) {
	switch s {
	case "text", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, usagef("--output %q: want text or json", s)
}
