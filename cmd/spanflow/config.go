package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Config is everything the command line sets.
type Config struct {
	Interfaces      stringList
	XDPMode         string
	XDPAction       string
	Key             string
	Sample          uint
	SampleMode      string
	MapSize         uint
	HarvestInterval time.Duration
	Promisc         bool
	Clock           string
	Duration        time.Duration

	// Parsed by Validate.
	mode    probe.Mode
	options probe.Options
}

// BindFlags registers the flags on fs and returns the Config they fill.
func BindFlags(fs *flag.FlagSet) *Config {
	c := &Config{}
	fs.Var(&c.Interfaces, "i", "capture: interface to attach to (repeatable)")
	fs.StringVar(&c.XDPMode, "xdp-mode", "auto", "capture: XDP attach mode: auto, native or generic")
	fs.StringVar(&c.XDPAction, "xdp-action", "pass", "capture: after counting, pass packets on or drop them (a dedicated mirror port)")
	fs.StringVar(&c.Key, "key", "full", "capture: flow key: full, proto, ip, or a list of src-addr,dst-addr,src-port,dst-port,proto,tos,ifindex,vlan")
	fs.UintVar(&c.Sample, "sample", 1, "capture: count 1 packet in N (1 = every packet)")
	fs.StringVar(&c.SampleMode, "sample-mode", "deterministic", "capture: sampling: deterministic (every Nth) or random")
	fs.UintVar(&c.MapSize, "map-size", probe.DefaultMapEntries, "capture: kernel flow slots, one harvest interval's flows")
	fs.DurationVar(&c.HarvestInterval, "harvest-interval", time.Second, "capture: how often to drain the kernel map (100ms to 10s)")
	fs.StringVar(&c.Clock, "clock", "auto", "capture: flow timestamps: precise, coarse (one kernel tick, half the per-packet cost) or auto (coarse when a tick is ≤ 1ms)")
	fs.BoolVar(&c.Promisc, "promisc", false, "capture: put the interfaces in promiscuous mode while attached")
	fs.DurationVar(&c.Duration, "duration", 0, "operations: stop after this long (0 = run until SIGINT/SIGTERM)")
	return c
}

// Validate checks every value and reports all problems at once, each
// naming its flag and what is allowed.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Interfaces) == 0 {
		bad("-i: give at least one interface to attach to")
	}
	var err error
	if c.mode, err = probe.ParseMode(c.XDPMode); err != nil {
		bad("--xdp-mode %s: must be auto, native or generic", c.XDPMode)
	}
	if c.options.Action, err = probe.ParseAction(c.XDPAction); err != nil {
		bad("--xdp-action %s: must be pass or drop", c.XDPAction)
	}
	if c.options.KeyFields, err = probe.ParseKeyFields(c.Key); err != nil {
		bad("--key: %v", err)
	}
	switch {
	case c.Sample < 1 || c.Sample > 1<<24:
		bad("--sample %d: must be 1 to %d", c.Sample, 1<<24)
	case c.Sample > 1 && c.SampleMode == "deterministic":
		c.options.SampleMode, c.options.SampleRate = bpf.SampleDeterministic, uint32(c.Sample)
	case c.Sample > 1 && c.SampleMode == "random":
		c.options.SampleMode, c.options.SampleRate = bpf.SampleRandom, uint32(c.Sample)
	}
	if c.SampleMode != "deterministic" && c.SampleMode != "random" {
		bad("--sample-mode %s: must be deterministic or random", c.SampleMode)
	}
	if c.MapSize < probe.MinMapEntries || c.MapSize > probe.MaxMapEntries {
		bad("--map-size %d: must be %d to %d", c.MapSize, probe.MinMapEntries, probe.MaxMapEntries)
	}
	c.options.MapEntries = uint32(c.MapSize)
	if c.HarvestInterval < 100*time.Millisecond || c.HarvestInterval > 10*time.Second {
		bad("--harvest-interval %s: must be 100ms to 10s", c.HarvestInterval)
	}
	switch c.Clock {
	case "precise":
	case "coarse":
		c.options.CoarseClock = true
	case "auto":
		res, err := probe.CoarseClockResolution()
		c.options.CoarseClock = err == nil && res <= time.Millisecond
	default:
		bad("--clock %s: must be precise, coarse or auto", c.Clock)
	}
	if c.Duration < 0 {
		bad("--duration %s: must not be negative", c.Duration)
	}
	return errors.Join(errs...)
}
