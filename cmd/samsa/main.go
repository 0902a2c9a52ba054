// Command samsa is the Samsa broker and its command-line tools; see
// internal/cli for the commands.
//
// For profiling, SAMSA_CPUPROFILE=FILE writes a CPU profile of the whole process run (read it
// with `go tool pprof`); the profile is complete once the process exits normally (for
// `samsa serve`: after SIGTERM or SIGINT).
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/samsa-streaming/samsa/internal/cli"
)

func main() { os.Exit(run()) }

func run() int {
	if path := os.Getenv("SAMSA_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "samsa: SAMSA_CPUPROFILE: %v\n", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "samsa: SAMSA_CPUPROFILE: %v\n", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	return cli.Main(os.Args[1:])
}
