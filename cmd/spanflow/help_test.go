package main

import (
	"bytes"
	"context"
	"flag"
	"os/exec"
	"strings"
	"testing"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cmd/internal/collect"
)

// TestSubcommandsPrintTheirUsageOnHelp runs the built binary: every
// subcommand's --help (and -h) prints its usage on stdout and exits 0.
func TestSubcommandsPrintTheirUsageOnHelp(t *testing.T) {
	bin := spanflowBinary(t)
	for _, tc := range []struct{ args, usage string }{
		{"show --help", "usage: spanflow show "},
		{"show -h", "usage: spanflow show "},
		{"show top-talkers --help", "usage: spanflow show "},
		{"collect --help", "usage: spanflow collect "},
		{"collect -h", "usage: spanflow collect "},
		{"version --help", "usage: spanflow version"},
	} {
		cmd := exec.Command(bin, strings.Fields(tc.args)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil || !strings.HasPrefix(out.String(), tc.usage) {
			t.Errorf("spanflow %s: %v; stdout %q, stderr %q; want %q… on stdout and exit 0", tc.args, err, out.String(), errOut.String(), tc.usage)
		}
	}
	// Not help: an unknown argument still fails.
	if out, err := exec.Command(bin, "version", "extra").CombinedOutput(); err == nil || !strings.Contains(string(out), `unexpected argument "extra"`) {
		t.Errorf("spanflow version extra: %v %q; want exit 1 naming the argument", err, out)
	}
}

// TestShowHelpNamesEverySchemeAndView: the help lists what the agent
// answers, the fourteen scheme names as cache.Schemes gives them.
func TestShowHelpNamesEverySchemeAndView(t *testing.T) {
	var b strings.Builder
	if err := runShow([]string{"--help"}, &b); err != nil {
		t.Fatal(err)
	}
	help := b.String()
	for _, s := range cache.Schemes() {
		if !strings.Contains(help, " "+s.String()+",") && !strings.Contains(help, " "+s.String()+" ") {
			t.Errorf("show --help does not name scheme %s:\n%s", s, help)
		}
	}
	for _, view := range []string{"cache ", "cache verbose [N]", "cache aggregation SCHEME", "export ", "top-talkers [N]", "applications ", "stats ", "interfaces ", "--json", "--control PATH"} {
		if !strings.Contains(help, "\n  "+view) {
			t.Errorf("show --help has no line for %q:\n%s", view, help)
		}
	}
}

// TestCollectHelpListsEveryFlag: the usage is followed by each flag
// bindCollectFlags defines.
func TestCollectHelpListsEveryFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := collectArgs(context.Background(), []string{"--help"}, &out, &errOut, collect.Hooks{}); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	bindCollectFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "\n  -"+f.Name+" ") && !strings.Contains(out.String(), "\n  -"+f.Name+"\n") {
			t.Errorf("collect --help does not list -%s:\n%s", f.Name, out.String())
		}
	})
	if errOut.Len() != 0 {
		t.Errorf("collect --help wrote to stderr: %q", errOut.String())
	}
}
