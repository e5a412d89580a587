package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/spanflow/spanflow/bpf"
)

// versionUsage is `spanflow version --help`.
const versionUsage = `usage: spanflow version

Prints spanflow's version, the hash of the XDP program built into it and
the Go version it was built with.
`

// runVersion is `spanflow version`: it takes no arguments but --help.
func runVersion(args []string, w io.Writer) error {
	for _, a := range args {
		if a == "--help" || a == "-help" || a == "-h" {
			_, err := io.WriteString(w, versionUsage)
			return err
		}
	}
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q\n%s", args[0], strings.TrimSpace(strings.SplitN(versionUsage, "\n", 2)[0]))
	}
	printVersion(w)
	return nil
}

func printVersion(w io.Writer) {
	h := bpf.ObjectHash()
	fmt.Fprintf(w, "spanflow %s (xdp program %x, %s)\n", version, h[:6], runtime.Version())
}
