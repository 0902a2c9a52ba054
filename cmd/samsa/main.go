// Command samsa is the Samsa broker and its command-line tools; see
// internal/cli for the commands.
package main

import (
	"os"

	"github.com/samsa-streaming/samsa/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
