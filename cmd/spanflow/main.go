// Command spanflow is a passive flow probe: an XDP program counts every
// packet into flows, a flow cache ages them with Cisco's timers, and
// exporters send NetFlow v1/v5/v7/v8/v9 and IPFIX to collectors.
//
// main only wires the whole of NIC → map → Delta → Record → datagram →
// collector: flags → Validate → agent.Run (live) or agent.RunOffline (-r);
// `show`, `collect` and `version` are front ends in their own files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spanflow/spanflow/cmd/internal/agent"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "show":
			err = runShow(os.Args[2:], os.Stdout)
		case "collect":
			err = runCollect(os.Args[2:])
		case "version":
			err = runVersion(os.Args[2:], os.Stdout)
		default:
			os.Exit(runProbe(os.Args[1:]))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "spanflow %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		return
	}
	os.Exit(runProbe(nil))
}

// runProbe is the probe itself, live or offline; it returns the exit code.
func runProbe(args []string) int {
	fs := flag.NewFlagSet("spanflow", flag.ContinueOnError)
	fs.Usage = usage(fs)
	cfg := BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "spanflow: unexpected argument %q (subcommands: show, collect, version)\n", fs.Arg(0))
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "spanflow: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if cfg.DefaultSink {
		log.Warn("no collector given (-n): exporting to the default", "collector", DefaultCollector, "version", cfg.Version)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1) // SIGHUP reloads the prefix tables, never stops the probe
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg.agent.Reload = hup
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	run := agent.Run
	if cfg.ReadFile != "" {
		run = agent.RunOffline
	}
	if err := run(ctx, &cfg.agent, log); err != nil {
		log.Error("spanflow stopped", "err", err)
		return 1
	}
	return 0
}
