package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spanflow/spanflow/cmd/internal/control"
)

// runShow is `spanflow show …`: it asks the running spanflow over the
// control socket and prints the answer.
func runShow(args []string, w io.Writer) error {
	req := control.Request{}
	path := control.DefaultPath
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--help" || a == "-help" || a == "-h":
			_, err := io.WriteString(w, control.Help)
			return err
		case a == "--json" || a == "-json":
			req.JSON = true
		case a == "--sort" || a == "--app" || a == "--control":
			if i+1 == len(args) {
				return fmt.Errorf("%s needs a value\n%s", a, control.Usage)
			}
			i++
			if a == "--control" {
				path = args[i]
			} else {
				req.Args = append(req.Args, a, args[i])
			}
		case strings.HasPrefix(a, "--sort=") || strings.HasPrefix(a, "--app="):
			name, value, _ := strings.Cut(a, "=")
			req.Args = append(req.Args, name, value)
		case strings.HasPrefix(a, "--control="):
			path = strings.TrimPrefix(a, "--control=")
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("unknown flag %s\n%s", a, control.Usage)
		case req.Show == "":
			req.Show = a
		default:
			req.Args = append(req.Args, a)
		}
	}
	if req.Show == "" {
		return fmt.Errorf("what to show?\n%s", control.Usage)
	}
	return control.Query(path, req, w)
}
