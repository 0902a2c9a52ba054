package samsa_test

// The architecture test: the module's import graph checked against the dependency arrows of
// docs/architecture.md. It reads the graph with `go list` (every package's non-test imports)
// and checks each edge between two of the module's packages against the table below.
//
// To add a package, put it in the tier where it belongs (or in leaves, if it imports nothing
// of the module) and say so in docs/architecture.md. A package the table does not name fails
// the test, so that a new package is placed deliberately.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/samsa-streaming/samsa"

// tiers are the layers of the binary, top first. A package may import packages of a lower
// tier (any distance down), never of its own tier or a higher one, except for the sideways
// edges listed below. Packages that do not exist yet are named so that the branches adding
// them pass as they land.
var tiers = [][]string{
	{"cmd/samsa"},
	{"internal/cli", "samsatest"},
	{"internal/server"},
	{"internal/broker", "internal/registry", "internal/console"},
	{"internal/cluster", "internal/security"},
	{"internal/group", "internal/txn", "internal/coord", "internal/partition"},
	{"internal/commitlog", "internal/records", "internal/wire", "internal/config"},
}

// sideways are the allowed imports within one tier.
var sideways = map[string][]string{
	"internal/group":     {"internal/coord"},
	"internal/txn":       {"internal/coord"},
	"internal/commitlog": {"internal/records"},
	// The security state of a cluster lives in its metadata store (security.ClusterStore).
	"internal/security": {"internal/cluster"},
}

// leaves import nothing of the module and may be imported by any internal package.
var leaves = []string{
	"internal/bench",     // the load generators of `samsa bench`
	"internal/metrics",   // Prometheus collectors, fed by the broker and the server
	"internal/placement", // replica and leader placement plans, for the broker and the CLI
	"internal/testwait",  // condition polling for tests
}

// only limits a package's internal imports to the named ones (group and txn sit behind
// Store interfaces the broker implements, so they need nothing but the coordinator core).
var only = map[string][]string{
	"internal/group": {"internal/coord"},
	"internal/txn":   {"internal/coord"},
}

// clients are packages that talk to a broker over the Kafka protocol and HTTP; they must
// not import the broker's internals.
var clients = []string{"internal/cli", "internal/console"}

// brokerInternals are what clients must not import. The protocol codecs (records, wire) are
// not among them: a client may parse record batches it fetched.
var brokerInternals = []string{
	"internal/broker", "internal/partition", "internal/commitlog", "internal/group", "internal/txn",
	"internal/coord", "internal/cluster",
}

// public are importable libraries that run against any Kafka cluster: they import no
// internal package, and only the named packages of the module (with their subpackages).
var public = map[string][]string{
	"stream": {"stream"},
	"serde":  {},
}

// goPackage is the part of `go list -json` the test reads.
type goPackage struct {
	ImportPath string
	Imports    []string
	Error      *struct{ Err string }
}

// graph maps each package of the module (path relative to the module) to the packages of the
// module it imports, tests excluded.
type graph map[string][]string

func loadGraph(t *testing.T, patterns ...string) graph {
	t.Helper()
	args := append([]string{"list", "-e", "-json=ImportPath,Imports,Error"}, patterns...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	g := make(graph)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		rel, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		imps := []string{}
		for _, imp := range p.Imports {
			if r, ok := relative(imp); ok {
				imps = append(imps, r)
			}
		}
		g[rel] = imps
	}
	return g
}

// relative returns path relative to the module, if it is one of the module's packages.
func relative(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// under reports whether pkg is root or one of its subpackages.
func under(pkg, root string) bool {
	return pkg == root || strings.HasPrefix(pkg, root+"/")
}

// component returns the table entry that pkg belongs to (itself or the nearest listed
// ancestor, so internal/commitlog/vfs belongs to internal/commitlog), its tier (-1 for a
// leaf) and whether the table names it.
func component(pkg string) (name string, tier int, ok bool) {
	best := ""
	bestTier := 0
	for i, tier := range tiers {
		for _, c := range tier {
			if under(pkg, c) && len(c) > len(best) {
				best, bestTier = c, i
			}
		}
	}
	for _, c := range leaves {
		if under(pkg, c) && len(c) > len(best) {
			best, bestTier = c, -1
		}
	}
	return best, bestTier, best != ""
}

// check returns every edge of g that breaks the rules, as "from → to: why" lines.
func check(g graph) []string {
	var bad []string
	report := func(from, to, why string) { bad = append(bad, fmt.Sprintf("%s → %s: %s", from, to, why)) }
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	for _, from := range pkgs {
		for _, to := range g[from] {
			if under(to, "examples") && !under(from, "examples") {
				report(from, to, "nothing outside examples/ imports an example")
			}
		}
		switch {
		case under(from, "examples"):
			for _, to := range g[from] {
				if under(to, "internal") {
					report(from, to, "examples use public packages only, so they run against any Kafka")
				}
			}
			continue
		case under(from, "test"), from == "":
			continue // the interoperability and crash suites drive whole processes; the root holds this test
		}
		if pubRoot, allowed, ok := publicOf(from); ok {
			for _, to := range g[from] {
				if under(to, pubRoot) {
					continue
				}
				if !slices.ContainsFunc(allowed, func(a string) bool { return under(to, a) }) {
					report(from, to, pubRoot+" is public and runs on any Kafka: it imports no Samsa package outside "+strings.Join(append([]string{pubRoot}, allowed...), ", "))
				}
			}
			continue
		}
		fc, ft, ok := component(from)
		if !ok {
			report(from, "", "package missing from the architecture table in arch_test.go (place it in a tier or leaves, and in docs/architecture.md)")
			continue
		}
		for _, to := range g[from] {
			if _, _, ok := publicOf(to); ok {
				continue // public libraries are importable from anywhere
			}
			tc, tt, ok := component(to)
			switch {
			case !ok:
				if !under(to, "examples") {
					report(from, to, "imported package missing from the architecture table")
				}
				continue
			case tc == fc:
				continue // within one component
			case ft == -1:
				report(from, to, fc+" is a leaf: it imports nothing of the module")
				continue
			}
			if lim, ok := only[fc]; ok && !slices.Contains(lim, tc) {
				report(from, to, fc+" imports no internal package except "+strings.Join(lim, ", "))
				continue
			}
			if slices.Contains(clients, fc) && slices.Contains(brokerInternals, tc) {
				report(from, to, fc+" is a Kafka/HTTP client of the broker and never imports broker internals")
				continue
			}
			switch {
			case tt == -1, tt > ft:
			case tt == ft && slices.Contains(sideways[fc], tc):
			default:
				report(from, to, fmt.Sprintf("arrows point down only: %s (tier %d) may not import %s (tier %d)", fc, ft, tc, tt))
			}
		}
	}
	return bad
}

// publicOf returns the public library pkg belongs to and what else of the module it may use.
func publicOf(pkg string) (root string, allowed []string, ok bool) {
	for r, a := range public {
		if under(pkg, r) {
			return r, a, true
		}
	}
	return "", nil, false
}

func TestArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	g := loadGraph(t, "./...")
	for _, must := range []string{"cmd/samsa", "internal/broker", "stream", "serde"} {
		if _, ok := g[must]; !ok {
			t.Fatalf("go list found no %s: the graph is not the module's", must)
		}
	}
	for _, v := range check(g) {
		t.Error(v)
	}
}

// TestBinaryHasNoExamples: the samsa binary links no package under examples/, directly or
// through any chain of imports.
func TestBinaryHasNoExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "./cmd/samsa").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"/internal/cli") {
		t.Fatalf("go list -deps ./cmd/samsa lacks internal/cli: %q", deps)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, module+"/examples/") {
			t.Errorf("the samsa binary links %s", d)
		}
	}
}

// TestCheckCatches proves check finds each kind of broken arrow (so TestArchitecture
// passing means something).
func TestCheckCatches(t *testing.T) {
	for _, tt := range []struct {
		from, to string
		want     string
	}{
		{"internal/group", "internal/broker", "imports no internal package except"},
		{"internal/txn", "internal/records", "imports no internal package except"},
		{"internal/commitlog", "internal/broker", "arrows point down only"},
		{"internal/records", "internal/commitlog", "arrows point down only"},
		{"internal/broker", "internal/registry", "arrows point down only"},
		{"internal/partition/state", "internal/cluster", "arrows point down only"},
		{"internal/cli", "internal/broker", "never imports broker internals"},
		{"internal/console", "internal/commitlog", "never imports broker internals"},
		{"internal/cli", "internal/group", "never imports broker internals"},
		{"internal/cli", "examples/nexmark/bench", "nothing outside examples/"},
		{"stream", "internal/records", "is public"},
		{"stream/kafkarun", "serde", "is public"},
		{"serde", "stream", "is public"},
		{"examples/teamscore", "internal/config", "examples use public packages only"},
		{"internal/bench", "internal/config", "is a leaf"},
		{"internal/nosuch", "internal/config", "missing from the architecture table"},
	} {
		bad := check(graph{tt.from: {tt.to}})
		if len(bad) != 1 || !strings.Contains(bad[0], tt.want) {
			t.Errorf("%s → %s: check = %q, want one violation containing %q", tt.from, tt.to, bad, tt.want)
		}
	}
	for _, ok := range [][2]string{
		{"cmd/samsa", "internal/cli"},
		{"internal/cli", "internal/server"},
		{"internal/cli", "stream/nexmark/bench"},
		{"internal/server", "internal/broker"},
		{"internal/broker", "internal/commitlog/vfs"},
		{"internal/broker", "internal/metrics"},
		{"internal/group", "internal/coord"},
		{"internal/commitlog", "internal/records"},
		{"stream/kafkarun", "stream"},
		{"examples/nexmark", "stream/nexmark/bench"},
		{"samsatest", "internal/server"},
		{"internal/console", "internal/records"}, // parsing fetched batches is a client's business
	} {
		if bad := check(graph{ok[0]: {ok[1]}}); len(bad) != 0 {
			t.Errorf("%s → %s: check = %q, want no violation", ok[0], ok[1], bad)
		}
	}
}
