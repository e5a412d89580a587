package cache

import (
	"errors"
	"fmt"
	"time"
)

// Defaults, as a Cisco router ships them (the FIN grace is ours: a router
// expires a finished TCP flow on its next cache scan, about a second).
const (
	DefaultInactiveTimeout = 15 * time.Second
	DefaultActiveTimeout   = 30 * time.Minute
	DefaultFINGrace        = time.Second
	DefaultMaxFlows        = 65536
)

// Config sets a Table's timers, size and mode. Start from DefaultConfig.
type Config struct {
	// InactiveTimeout ends a flow that saw no packet for this long.
	InactiveTimeout time.Duration
	// ActiveTimeout exports a flow that has lasted this long; the flow
	// stays in the table and counts again from zero.
	ActiveTimeout time.Duration
	// FINGrace is how long a TCP flow that saw FIN or RST stays open for
	// the packets that close the connection (0: end at once).
	FINGrace time.Duration
	// MaxFlows bounds the table; a new flow beyond it first forces the
	// flow nearest to its own timeout out (emergency expiry).
	MaxFlows int
	// Bidirectional pairs A→B and B→A into one Record.
	Bidirectional bool
	// SamplingInterval (N of 1-in-N, 0 or 1 = unsampled) and
	// SamplingRandom are copied into every Record; counters stay unscaled.
	SamplingInterval uint32
	SamplingRandom   bool
}

// DefaultConfig returns Cisco's timers, a 64k-flow table, unidirectional,
// unsampled.
func DefaultConfig() Config {
	return Config{
		InactiveTimeout: DefaultInactiveTimeout,
		ActiveTimeout:   DefaultActiveTimeout,
		FINGrace:        DefaultFINGrace,
		MaxFlows:        DefaultMaxFlows,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.InactiveTimeout <= 0 {
		errs = append(errs, fmt.Errorf("inactive timeout %v: must be > 0", c.InactiveTimeout))
	}
	if c.ActiveTimeout <= 0 {
		errs = append(errs, fmt.Errorf("active timeout %v: must be > 0", c.ActiveTimeout))
	}
	if c.FINGrace < 0 {
		errs = append(errs, fmt.Errorf("fin grace %v: must be ≥ 0", c.FINGrace))
	}
	if c.MaxFlows < 1 || c.MaxFlows > maxFlowsLimit {
		errs = append(errs, fmt.Errorf("max flows %d: must be 1…%d", c.MaxFlows, maxFlowsLimit))
	}
	return errors.Join(errs...)
}

// maxFlowsLimit keeps flow indexes in an int32.
const maxFlowsLimit = 1 << 30
