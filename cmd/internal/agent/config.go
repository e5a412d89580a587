package agent

import (
	"io"
	"os"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/prefixes"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter"
	"github.com/spanflow/spanflow/probe"
)

// Config is what the agent runs with: values already parsed and checked
// (cmd/spanflow turns flags into it).
type Config struct {
	// Capture: live interfaces, or a capture file (offline mode).
	Interfaces []string
	ReadFile   string
	Mode       probe.Mode
	Promisc    bool
	// Directions says, per interface, which way its packets are counted
	// (--direction); an interface not in it is counted as packets enter.
	Directions      map[string]probe.Direction
	Probe           probe.Options // map size, key, sampling, action, clock, pin dir
	HarvestInterval time.Duration
	Detach          bool // on exit, detach and remove the pinned state

	// Flow cache.
	Cache cache.Config

	// Export: one stream per collector (per aggregation scheme for v8).
	Collectors []string
	Version    int            // 1, 5, 7, 8, 9 or 10 (IPFIX)
	Schemes    []cache.Scheme // v8 aggregation schemes
	Transport  string         // udp, or tcp (IPFIX)
	Source     string         // source address of export packets
	// Export holds the encoders' settings; Boot and IPv6Transport are set
	// per stream.
	Export      exporter.Settings
	StreamQueue int // records queued per collector
	ExportRate  int // datagrams a second per collector (0: unpaced)
	Aggregation cache.AggregatorConfig
	Print       flowprint.Format // expired records to Stdout too
	Stdout      io.Writer        // nil: os.Stdout

	// NoClassify turns application classification off. It is on by
	// default: live, the datapath samples payload heads for it (Probe's
	// Classify is set from it); offline, the reference parser feeds it.
	// Records carry their application and v9/IPFIX export it (IE 95 and
	// the application options template).
	NoClassify bool
	// NtopFields adds nProbe's L7_PROTO, L7_PROTO_NAME and server name
	// elements to v9/IPFIX flow records (--ntop-fields).
	NtopFields bool

	// PrefixTables give records their AS numbers and masks
	// (--prefix-table); PeerAS puts the neighbour AS in them instead of
	// the origin AS (--as peer). Reload asks, live, for the tables to be
	// read again (SIGHUP); they are also when a file changes.
	PrefixTables []prefixes.Source
	PeerAS       bool
	Reload       <-chan os.Signal

	// Routing is "router" (ask the kernel's FIB and routes where each flow
	// goes: output interface, Local, next hop, masks), "span" (a mirror
	// port: nothing to ask) or "auto" (router when forwarding is on).
	Routing string

	// Operations.
	Control  string // control socket for `spanflow show`; "" for none
	Metrics  string // Prometheus listen address; "" for none
	User     string // drop root to this user after attaching
	UID, GID int
}

// direction is which way the interface's packets are counted.
func (c *Config) direction(name string) probe.Direction {
	if d, ok := c.Directions[name]; ok {
		return d
	}
	return probe.Ingress
}

// ledgerDirections is how many flow directions the cache can hold: one
// per flow, two when flows are bidirectional.
func (c *Config) ledgerDirections() int {
	if c.Cache.Bidirectional {
		return 2 * c.Cache.MaxFlows
	}
	return c.Cache.MaxFlows
}

// ledgerCells sizes the ledger from what can be pending at once: the
// cache's directions, as many of flows a harvest ended (a full cache that
// new flows push out) that wait for their export, and as many exported but
// not yet confirmed sent (the keeper's bound); plus one cell, as an entry
// is rewritten into a free cell before its old one is freed.
func (c *Config) ledgerCells() uint32 {
	return uint32(3*c.ledgerDirections() + 1)
}

// classifies reports whether records get an application.
func (c *Config) classifies() bool { return !c.NoClassify }

// stdout is where --print writes.
func (c *Config) stdout() io.Writer {
	if c.Stdout != nil {
		return c.Stdout
	}
	return os.Stdout
}

// router reports whether the live probe runs as a software router's.
func (c *Config) router() bool {
	switch c.Routing {
	case "router":
		return true
	case "auto":
		return forwarding()
	}
	return false
}
