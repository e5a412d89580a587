package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spanflow/spanflow/bpf"
)

func printVersion(w io.Writer) {
	h := bpf.ObjectHash()
	fmt.Fprintf(w, "spanflow %s (xdp program %x, %s)\n", version, h[:6], runtime.Version())
}
