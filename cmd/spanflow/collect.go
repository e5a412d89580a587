package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"

	"github.com/spanflow/spanflow/cmd/internal/collect"
)

func bindCollectFlags(fs *flag.FlagSet) *collect.Config {
	c := &collect.Config{}
	fs.StringVar(&c.Listen, "l", DefaultCollector, "UDP `address` to listen on (HOST:PORT, or a bare PORT on 127.0.0.1)")
	fs.StringVar(&c.TCP, "tcp", "", "also accept IPFIX over TCP on `address` (HOST:PORT or PORT)")
	fs.BoolVar(&c.JSON, "json", false, "print one JSON object per record instead of a flow-print line")
	fs.Uint64Var(&c.Count, "count", 0, "exit after `N` records (0: no limit)")
	fs.DurationVar(&c.Duration, "duration", 0, "exit after this long (0: until SIGINT/SIGTERM)")
	fs.BoolVar(&c.Quiet, "quiet", false, "print no records, only the summary")
	fs.IntVar(&c.TCPMaxConns, "tcp-max-conns", collect.DefaultTCPMaxConns, "most IPFIX-over-TCP connections at once; more are closed as they come")
	fs.DurationVar(&c.TCPIdle, "tcp-idle", collect.DefaultTCPIdle, "close an IPFIX-over-TCP connection silent this long")
	return c
}

// validateCollect checks the flags and turns bare ports into loopback addresses.
func validateCollect(c *collect.Config) error {
	var errs []error
	var err error
	if c.Listen, err = listenAddr("-l", c.Listen); err != nil {
		errs = append(errs, err)
	}
	if c.TCP != "" {
		if c.TCP, err = listenAddr("--tcp", c.TCP); err != nil {
			errs = append(errs, err)
		}
	}
	if c.TCPMaxConns < 1 {
		errs = append(errs, fmt.Errorf("--tcp-max-conns %d: must be at least 1", c.TCPMaxConns))
	}
	if c.TCPIdle <= 0 {
		errs = append(errs, fmt.Errorf("--tcp-idle %v: must be positive", c.TCPIdle))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("--duration %v: must not be negative", c.Duration))
	}
	return errors.Join(errs...)
}

// listenAddr returns s as HOST:PORT; a bare port means 127.0.0.1:PORT.
func listenAddr(flagName, s string) (string, error) {
	if p, err := strconv.ParseUint(s, 10, 16); err == nil {
		return net.JoinHostPort("127.0.0.1", strconv.FormatUint(p, 10)), nil
	}
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		return "", fmt.Errorf("%s %q: want HOST:PORT or PORT", flagName, s)
	}
	return s, nil
}

// collectUsage heads `spanflow collect --help`, before the flags.
const collectUsage = `usage: spanflow collect [-l ADDR] [--tcp ADDR] [--json] [--count N] [--duration D] [--quiet]
                        [--tcp-max-conns N] [--tcp-idle D]

Listens as a NetFlow v1/v5/v7/v8/v9 and IPFIX collector and prints every
record it decodes (flow-print lines, or JSON), then a summary on stderr:
what collectors would get from spanflow.

`

func isHelpFlag(a string) bool { return a == "--help" || a == "-help" || a == "-h" }

// runCollect is `spanflow collect`.
func runCollect(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return collectArgs(ctx, args, stdout, os.Stderr, collect.Hooks{})
}

// collect runs the collector until ctx ends, --count records were
// printed or --duration passed, then writes the summary to errw.
func collectArgs(ctx context.Context, args []string, out, errw io.Writer, hooks collect.Hooks) error {
	fs := flag.NewFlagSet("spanflow collect", flag.ContinueOnError)
	fs.SetOutput(errw)
	if slices.ContainsFunc(args, isHelpFlag) {
		fs.SetOutput(out) // asked for: the usage is the answer, not an error
	}
	cfg := bindCollectFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), collectUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := validateCollect(cfg); err != nil {
		return err
	}
	return collect.Run(ctx, cfg, out, errw, hooks)
}
