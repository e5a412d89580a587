package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/prefixes"
	"github.com/spanflow/spanflow/cmd/internal/agent"
	"github.com/spanflow/spanflow/cmd/internal/control"
	"github.com/spanflow/spanflow/cmd/internal/flowprint"
	"github.com/spanflow/spanflow/exporter"
	"github.com/spanflow/spanflow/probe"
)

// DefaultCollector is where records go when no -n is given (said in a log line).
const DefaultCollector = "127.0.0.1:2055"

// stringList is a repeatable string flag.
type stringList []string

// The export queue per collector, in records (about 300 bytes each while
// queued): the default holds two expiries of a full default table; the
// bound keeps a typo from asking for more memory than a host has.
const (
	defaultCollectorQueue = 131072
	maxCollectorQueue     = 1 << 24
)

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Config is everything the command line sets.
type Config struct {
	// capture
	Interfaces      stringList
	ReadFile        string
	Routing         string
	Dedup           time.Duration
	InterfaceMap    string
	Decap           stringList
	Directions      stringList
	XDPMode         string
	XDPAction       string
	Key             string
	Sample          uint
	SampleMode      string
	MapSize         uint
	HarvestInterval time.Duration
	Clock           string
	Promisc         bool
	Classify        bool

	// flow cache
	ActiveTimeout   time.Duration
	InactiveTimeout time.Duration
	FINGrace        time.Duration
	MaxFlows        int
	Bidirectional   bool
	Print           flowprint.Format
	PrefixTables    stringList
	AS              string

	// export
	Collectors       stringList
	Version          string
	Aggregations     stringList
	Transport        string
	Source           string
	MTU              int
	EngineType       uint
	EngineID         uint
	SourceID         uint
	RefreshPackets   int
	RefreshTimeout   time.Duration
	CollectorQueue   int
	ExportRate       int
	AggActiveTimeout time.Duration
	AggIdleTimeout   time.Duration
	NtopFields       bool

	// operations
	Control     string
	Metrics     string
	PinDir      string
	Detach      bool
	Replace     bool
	User        string
	LogLevel    string
	Duration    time.Duration
	DefaultSink bool // set by Validate: no -n given, DefaultCollector used

	// Parsed by Validate: what the agent runs with.
	agent    agent.Config
	logLevel slog.Level
}

// directions reads the --direction values: DIR for every interface, or
// IFACE=DIR for one, the later value winning.
func (c *Config) directions() (map[string]probe.Direction, error) {
	if len(c.Directions) == 0 {
		return nil, nil
	}
	if c.ReadFile != "" {
		return nil, errors.New("is for live interfaces: a capture file has no direction")
	}
	out := map[string]probe.Direction{}
	for _, v := range c.Directions {
		name, dir, one := strings.Cut(v, "=")
		if !one {
			dir = name
		}
		d, err := probe.ParseDirection(dir)
		if err != nil {
			return nil, err
		}
		if !one {
			for _, i := range c.Interfaces {
				out[i] = d
			}
			continue
		}
		if !slices.Contains(c.Interfaces, name) {
			return nil, fmt.Errorf("%s: %s is not one of the -i interfaces", v, name)
		}
		out[name] = d
	}
	return out, nil
}

// BindFlags registers the flags on fs and returns the Config they fill.
// Each usage starts with its group, which the help output sorts by.
func BindFlags(fs *flag.FlagSet) *Config {
	c := &Config{}
	fs.Var(&c.Interfaces, "i", "capture: `IFACE` to attach to (repeatable)")
	fs.StringVar(&c.ReadFile, "r", "", "capture: read a pcap/pcapng `FILE` instead (offline mode; its timestamps drive the clock)")
	fs.StringVar(&c.XDPMode, "xdp-mode", "auto", "capture: XDP attach mode: auto, native or generic")
	fs.StringVar(&c.XDPAction, "xdp-action", "pass", "capture: after counting, pass packets on or drop them (a dedicated mirror port)")
	fs.StringVar(&c.Key, "key", "full", "capture: flow key: full, proto, ip, or a list of src-addr,dst-addr,src-port,dst-port,proto,tos,ifindex,vlan")
	fs.UintVar(&c.Sample, "sample", 1, "capture: count 1 packet in N (1 = every packet); the rate is advertised, counters are not scaled")
	fs.StringVar(&c.SampleMode, "sample-mode", "deterministic", "capture: sampling: deterministic (every Nth) or random")
	fs.UintVar(&c.MapSize, "map-size", probe.DefaultMapEntries, "capture: kernel flow slots, one harvest interval's flows")
	fs.DurationVar(&c.HarvestInterval, "harvest-interval", time.Second, "capture: how often to drain the kernel map (100ms to 10s)")
	fs.StringVar(&c.Clock, "clock", "auto", "capture: flow timestamps: precise, coarse (one kernel tick, half the per-packet cost) or auto (coarse when a tick is ≤ 1ms)")
	fs.BoolVar(&c.Promisc, "promisc", false, "capture: put the interfaces in promiscuous mode while attached")
	fs.BoolVar(&c.Classify, "classify", true, "capture: name each flow's application from its payload (v9/IPFIX carry IE 95 and the name table)")
	fs.Var(&c.Decap, "decap", "capture: account the inner packet of a mirror tunnel, not the tunnel: erspan (GRE, types I–III), vxlan[:PORT] (4789; AWS VPC Traffic Mirroring, Azure vTAP) or geneve[:PORT] (6081) (repeatable)")
	fs.StringVar(&c.InterfaceMap, "interface-map", "", "capture: on a mirror port, a `FILE` mapping VLANs, tunnels or the router's port MACs to the router's ifIndex and name (lines: vlan VID IFINDEX NAME input|output, vni VNI …, session ID …, mac MAC IFINDEX NAME): flows get the mirrored router's input and output interfaces")
	fs.DurationVar(&c.Dedup, "dedup", 0, "capture: drop from the accounting the second copy of a packet seen within this `WINDOW` (e.g. 1ms: a SPAN session mirroring both directions of two ports shows each packet twice), counted as duplicate; 0 = off")
	fs.Var(&c.Directions, "direction", "capture: count packets as they enter the interfaces (ingress, XDP), as they leave them (egress, TC: IOS's ip flow egress) or both; IFACE=DIR for one interface (repeatable). A packet forwarded from one counted interface to another is counted once per direction asked: see the README on double counting")
	fs.StringVar(&c.Routing, "mode", "auto", "capture: router (ask the kernel where each flow goes: output interface or Local, next hop, masks), span (a mirror port) or auto (router when this host forwards IP)")

	fs.DurationVar(&c.ActiveTimeout, "active-timeout", cache.DefaultActiveTimeout, "flow cache: export a long flow each time it lasts this long")
	fs.DurationVar(&c.InactiveTimeout, "inactive-timeout", cache.DefaultInactiveTimeout, "flow cache: end a flow idle this long")
	fs.DurationVar(&c.FINGrace, "fin-grace", cache.DefaultFINGrace, "flow cache: how long a TCP flow that saw FIN or RST waits for its last packets")
	fs.IntVar(&c.MaxFlows, "max-flows", cache.DefaultMaxFlows, "flow cache: table size; beyond it the oldest flows are expired early")
	fs.BoolVar(&c.Bidirectional, "bidirectional", false, "flow cache: pair A→B and B→A into one record (v9 IN/OUT counters, IPFIX RFC 5103)")
	fs.Var(&c.Print, "print", "flow cache: print expired flows to stdout: --print (text) or --print=json")
	fs.Var(&c.PrefixTables, "prefix-table", "flow cache: AS numbers and masks from a prefix table `FILE`: CIDR ASN lines, ip2asn TSV or an MRT RIB dump, detected or named as plain:|ip2asn:|mrt:FILE; gzip/bzip2 too (repeatable; reloaded on SIGHUP or change)")
	fs.StringVar(&c.AS, "as", "origin", "flow cache: the AS records carry, `origin|peer`: the prefix's origin AS or the neighbour AS (IOS's ip flow-export version 5 origin-as|peer-as)")

	fs.Var(&c.Collectors, "n", "export: collector `HOST:PORT` (repeatable; default "+DefaultCollector+")")
	fs.StringVar(&c.Version, "v", "9", "export: NetFlow `VERSION`: 1, 5, 7, 8, 9 or 10 (IPFIX)")
	fs.Var(&c.Aggregations, "aggregation", "export: v8 aggregation cache `SCHEME`: a Cisco name (as, protocol-port, prefix, …) or 1-14 (repeatable)")
	fs.StringVar(&c.Transport, "transport", "udp", "export: udp, or tcp (IPFIX only)")
	fs.StringVar(&c.Source, "source", "", "export: source `ADDR` of export packets")
	fs.IntVar(&c.MTU, "mtu", exporter.DefaultMTU, "export: largest export IP packet, headers included")
	fs.UintVar(&c.EngineType, "engine-type", 0, "export: v5/v7/v8 engine type (0-255)")
	fs.UintVar(&c.EngineID, "engine-id", 0, "export: v5/v7/v8 engine id (0-255)")
	fs.UintVar(&c.SourceID, "source-id", 0, "export: v9 source id / IPFIX observation domain id")
	fs.IntVar(&c.RefreshPackets, "template-refresh-packets", 20, "export: resend v9/IPFIX templates every N packets")
	fs.DurationVar(&c.RefreshTimeout, "template-refresh-timeout", 30*time.Minute, "export: resend v9/IPFIX templates at least this often")
	fs.IntVar(&c.CollectorQueue, "collector-queue", defaultCollectorQueue, "export: records queued per collector before records are dropped (counted), 1 to 16777216")
	fs.IntVar(&c.ExportRate, "export-rate", exporter.DefaultRate, "export: most datagrams a second per collector, in bursts of 64, so that a burst of expiries does not overflow the collector's socket buffer (0 = unpaced)")
	fs.DurationVar(&c.AggActiveTimeout, "aggregation-active-timeout", 30*time.Minute, "export: active timeout of v8 aggregation caches")
	fs.DurationVar(&c.AggIdleTimeout, "aggregation-inactive-timeout", 15*time.Second, "export: inactive timeout of v8 aggregation caches")
	fs.BoolVar(&c.NtopFields, "ntop-fields", false, "export: v9/IPFIX: add nProbe's L7_PROTO, L7_PROTO_NAME and server name (HTTP_HOST, SSL_SERVER_NAME, DNS_QUERY) for nProbe/ntopng")

	fs.StringVar(&c.Control, "control", control.DefaultPath, "operations: control socket `PATH` for spanflow show (mode 0600)")
	fs.StringVar(&c.Metrics, "metrics", "", "operations: serve Prometheus /metrics on `ADDR` (a bare port means 127.0.0.1:PORT; off by default)")
	fs.StringVar(&c.PinDir, "pin-dir", probe.DefaultPinDir, "operations: bpffs `DIR` for maps, links and the ledger, so a restart loses no count (empty: no pinning)")
	fs.BoolVar(&c.Detach, "detach", false, "operations: on exit, detach the program and remove the pinned state")
	fs.BoolVar(&c.Replace, "replace", false, "operations: discard pinned state made with other settings instead of refusing to start")
	fs.StringVar(&c.User, "user", "", "operations: drop root to `USER` after attaching")
	fs.StringVar(&c.LogLevel, "log-level", "info", "operations: debug, info, warn or error")
	fs.DurationVar(&c.Duration, "duration", 0, "operations: stop after this long (0 = until SIGINT/SIGTERM)")
	return c
}

// Validate checks every value and reports all problems at once, each
// naming its flag and what is allowed; it fills the agent's Config.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c.validateCapture(bad)
	c.validateExport(bad)
	c.validateOperations(bad)
	return errors.Join(errs...)
}

// complaint records one problem with a flag.
type complaint func(format string, args ...any)

func (c *Config) validateCapture(bad complaint) {
	a := &c.agent
	var err error
	switch {
	case len(c.Interfaces) == 0 && c.ReadFile == "":
		bad("-i or -r: give an interface to attach to, or a capture file to read")
	case len(c.Interfaces) > 0 && c.ReadFile != "":
		bad("-i and -r: choose live capture or a file, not both")
	}
	a.Interfaces, a.ReadFile, a.Promisc, a.HarvestInterval, a.Detach = c.Interfaces, c.ReadFile, c.Promisc, c.HarvestInterval, c.Detach
	switch {
	case c.Routing != "auto" && c.Routing != "router" && c.Routing != "span":
		bad("--mode %s: must be auto, router or span", c.Routing)
	case c.Routing == "router" && c.ReadFile != "":
		bad("--mode router: a capture file has no routes to ask (use it live)")
	case c.ReadFile != "":
		a.Routing = "span"
	default:
		a.Routing = c.Routing
	}
	if c.Dedup < 0 || c.Dedup > probe.MaxDedupWindow {
		bad("--dedup %s: must be 0 (off) to %s (a longer window would drop TCP retransmissions)", c.Dedup, probe.MaxDedupWindow)
	}
	a.Probe.DedupWindow = c.Dedup
	if c.Dedup > 0 && c.Sample > 1 {
		// Sampling decides before the copies can be compared: each copy
		// would be kept or skipped on its own, and most pairs never meet.
		bad("--dedup and --sample %d: sampling picks packets before duplicates can be found; use one or the other", c.Sample)
	}
	for _, d := range c.Decap {
		if err := a.Probe.Decap.Parse(d); err != nil {
			bad("--decap %v", err)
		}
	}
	if c.InterfaceMap != "" {
		if c.Routing == "router" {
			bad("--interface-map and --mode router: the map is for a mirror port; a router's own FIB names its interfaces")
		}
		if a.Probe.InterfaceMap, err = probe.ReadInterfaceMap(c.InterfaceMap); err != nil {
			bad("--interface-map: %v", err)
		}
	}
	if a.Directions, err = c.directions(); err != nil {
		bad("--direction %v", err)
	}
	if a.Mode, err = probe.ParseMode(c.XDPMode); err != nil {
		bad("--xdp-mode %s: must be auto, native or generic", c.XDPMode)
	}
	if a.Probe.Action, err = probe.ParseAction(c.XDPAction); err != nil {
		bad("--xdp-action %s: must be pass or drop", c.XDPAction)
	}
	if a.Probe.KeyFields, err = probe.ParseKeyFields(c.Key); err != nil {
		bad("--key: %v", err)
	}
	if c.Routing == "router" && !keepsAddresses(a.Probe.KeyFields) {
		bad("--mode router with --key %s: the FIB is asked with the flow's addresses, which the key leaves out", c.Key)
	}
	if c.SampleMode != "deterministic" && c.SampleMode != "random" {
		bad("--sample-mode %s: must be deterministic or random", c.SampleMode)
	}
	switch {
	case c.Sample < 1 || c.Sample > 1<<14-1:
		bad("--sample %d: must be 1 to 16383 (what NetFlow v5 can advertise)", c.Sample)
	case c.Sample > 1 && c.SampleMode == "random":
		a.Probe.SampleMode, a.Probe.SampleRate = bpf.SampleRandom, uint32(c.Sample)
	case c.Sample > 1:
		a.Probe.SampleMode, a.Probe.SampleRate = bpf.SampleDeterministic, uint32(c.Sample)
	}
	if c.MapSize < probe.MinMapEntries || c.MapSize > probe.MaxMapEntries {
		bad("--map-size %d: must be %d to %d", c.MapSize, probe.MinMapEntries, probe.MaxMapEntries)
	}
	a.Probe.MapEntries = uint32(c.MapSize)
	if c.HarvestInterval < 100*time.Millisecond || c.HarvestInterval > 10*time.Second {
		bad("--harvest-interval %s: must be 100ms to 10s", c.HarvestInterval)
	}
	switch c.Clock {
	case "precise":
	case "coarse":
		a.Probe.CoarseClock = true
	case "auto":
		a.Probe.CoarseClock = coarseClockIsPrecise()
	default:
		bad("--clock %s: must be precise, coarse or auto", c.Clock)
	}
	a.Probe.PinDir, a.Probe.Replace = c.PinDir, c.Replace

	a.Cache = c.cacheConfig()
	if err := a.Cache.Validate(); err != nil {
		bad("flow cache (--active-timeout, --inactive-timeout, --fin-grace, --max-flows): %v", err)
	}
	a.Print = c.Print
	a.NoClassify = !c.Classify
	for _, s := range c.PrefixTables {
		src, err := prefixes.ParseSource(s)
		if err != nil {
			bad("--prefix-table: %v", err)
		} else if _, err := os.Stat(src.Path); err != nil {
			bad("--prefix-table: %v", err)
		}
		a.PrefixTables = append(a.PrefixTables, src)
	}
	if c.AS != "origin" && c.AS != "peer" {
		bad("--as %s: must be origin or peer", c.AS)
	}
	a.PeerAS = c.AS == "peer"
}

// coarseClockIsPrecise says whether the kernel's coarse clock ticks at
// least every millisecond, NetFlow's resolution: then --clock auto takes it.
func coarseClockIsPrecise() bool {
	res, err := probe.CoarseClockResolution()
	return err == nil && res <= time.Millisecond
}

func (c *Config) validateExport(bad complaint) {
	a := &c.agent
	if a.Version = versionNumber(c.Version); a.Version == 0 {
		bad("-v %s: must be 1, 5, 7, 8, 9 or 10 (IPFIX)", c.Version)
	}
	if len(c.Collectors) == 0 && (c.ReadFile == "" || c.Print == "") {
		c.DefaultSink = true
		c.Collectors = stringList{DefaultCollector}
	}
	for _, col := range c.Collectors {
		if err := checkHostPort(col); err != nil {
			bad("-n %s: %v", col, err)
		}
	}
	a.Collectors = c.Collectors
	for _, agg := range c.Aggregations {
		s, err := cache.ParseAggregation(agg)
		if err != nil {
			bad("--aggregation: %v", err)
			continue
		}
		a.Schemes = append(a.Schemes, s)
	}
	switch {
	case a.Version == 8 && len(a.Schemes) == 0:
		bad("-v 8: give at least one --aggregation (as, protocol-port, source-prefix, destination-prefix, prefix, destination, source-destination, full-flow, as-tos, protocol-port-tos, source-prefix-tos, destination-prefix-tos, prefix-tos, prefix-port, or 1-14)")
	case a.Version != 8 && len(a.Schemes) > 0:
		bad("--aggregation: needs -v 8")
	}
	if c.Transport != "udp" && c.Transport != "tcp" {
		bad("--transport %s: must be udp or tcp", c.Transport)
	} else if c.Transport == "tcp" && a.Version != 10 {
		bad("--transport tcp: only for IPFIX (-v 10)")
	}
	if c.Source != "" && net.ParseIP(c.Source) == nil {
		bad("--source %s: must be an IP address", c.Source)
	}
	a.Transport, a.Source = c.Transport, c.Source
	if c.MTU < 576 || c.MTU > 65535 {
		bad("--mtu %d: must be 576 to 65535", c.MTU)
	}
	if c.EngineType > 255 {
		bad("--engine-type %d: must be 0 to 255", c.EngineType)
	}
	if c.EngineID > 255 {
		bad("--engine-id %d: must be 0 to 255", c.EngineID)
	}
	if c.SourceID > 1<<32-1 {
		bad("--source-id %d: must fit 32 bits", c.SourceID)
	}
	if c.RefreshPackets < 1 {
		bad("--template-refresh-packets %d: must be ≥ 1", c.RefreshPackets)
	}
	if c.RefreshTimeout < time.Second {
		bad("--template-refresh-timeout %s: must be ≥ 1s", c.RefreshTimeout)
	}
	a.Export = exporter.Settings{
		MTU:                    c.MTU,
		EngineType:             uint8(c.EngineType),
		EngineID:               uint8(c.EngineID),
		SourceID:               uint32(c.SourceID),
		TemplateRefreshPackets: c.RefreshPackets,
		TemplateRefreshTimeout: c.RefreshTimeout,
	}
	if a.Probe.SampleRate > 1 {
		a.Export.SamplingInterval = a.Probe.SampleRate
		a.Export.SamplingRandom = a.Probe.SampleMode == bpf.SampleRandom
	}
	if c.CollectorQueue < 1 || c.CollectorQueue > maxCollectorQueue {
		bad("--collector-queue %d: must be 1 to %d records", c.CollectorQueue, maxCollectorQueue)
	}
	a.StreamQueue = c.CollectorQueue
	if c.ExportRate < 0 || c.ExportRate > 10_000_000 {
		bad("--export-rate %d: must be 0 (unpaced) to 10000000 datagrams a second", c.ExportRate)
	}
	a.ExportRate = c.ExportRate
	if c.AggActiveTimeout <= 0 || c.AggIdleTimeout <= 0 {
		bad("--aggregation-active-timeout, --aggregation-inactive-timeout: must be > 0")
	}
	a.Aggregation = cache.AggregatorConfig{ActiveTimeout: c.AggActiveTimeout, InactiveTimeout: c.AggIdleTimeout}
	switch {
	case !c.NtopFields:
	case a.Version != 9 && a.Version != 10:
		bad("--ntop-fields: only for v9 (-v 9) and IPFIX (-v 10): v1-v8 have no application field")
	case !c.Classify:
		bad("--ntop-fields: needs --classify (the fields carry its verdicts)")
	}
	a.NtopFields = c.NtopFields
}

func (c *Config) validateOperations(bad complaint) {
	a := &c.agent
	if c.Metrics != "" {
		addr, err := metricsAddr(c.Metrics)
		if err != nil {
			bad("--metrics %s: %v", c.Metrics, err)
		}
		c.Metrics = addr
	}
	a.Control, a.Metrics = c.Control, c.Metrics
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("--log-level %s: must be debug, info, warn or error", c.LogLevel)
	}
	if c.User != "" {
		var err error
		if c.ReadFile != "" {
			bad("--user %s: only for live capture (-i), which drops root after attaching; -r needs no privilege: run it as that user", c.User)
		}
		if a.UID, a.GID, err = lookupUser(c.User); err != nil {
			bad("--user %s: %v", c.User, err)
		}
		a.User = c.User
	}
	if c.Duration < 0 {
		bad("--duration %s: must not be negative", c.Duration)
	}
}

// lookupUser gives the uid and gid --user switches to.
func lookupUser(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func (c *Config) cacheConfig() cache.Config {
	cfg := cache.Config{
		InactiveTimeout: c.InactiveTimeout,
		ActiveTimeout:   c.ActiveTimeout,
		FINGrace:        c.FINGrace,
		MaxFlows:        c.MaxFlows,
		Bidirectional:   c.Bidirectional,
	}
	if o := c.agent.Probe; o.SampleMode != bpf.SampleNone {
		cfg.SamplingInterval = o.SampleRate
		cfg.SamplingRandom = o.SampleMode == bpf.SampleRandom
	}
	return cfg
}

func versionNumber(v string) int {
	switch strings.ToLower(v) {
	case "1", "5", "7", "8", "9":
		n, _ := strconv.Atoi(v)
		return n
	case "10", "ipfix":
		return 10
	}
	return 0
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("must be HOST:PORT ([v6addr]:PORT for IPv6)")
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: must be 1 to 65535", port)
	}
	return nil
}

// metricsAddr turns a bare port into a loopback address: metrics never
// listen beyond the host unless an address says so.
func metricsAddr(s string) (string, error) {
	if p, err := strconv.Atoi(strings.TrimPrefix(s, ":")); err == nil {
		if p < 1 || p > 65535 {
			return "", fmt.Errorf("port must be 1 to 65535")
		}
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
	}
	if err := checkHostPort(s); err != nil {
		return "", err
	}
	return s, nil
}

// usage prints the flags grouped as capture, flow cache, export and
// operations, with their defaults.
func usage(fs *flag.FlagSet) func() {
	return func() {
		w := fs.Output()
		fmt.Fprint(w, `usage:
  spanflow -i IFACE [-i IFACE …] [-n HOST:PORT …] [-v 9] [flags]   run the probe
  spanflow -r FILE [--print[=json]] [-n HOST:PORT …] [flags]        process a capture file
  spanflow show cache [verbose [N]|aggregation SCHEME]|export|top-talkers [N] [--sort bytes|packets|application] [--app NAME]|applications|stats|interfaces [--json]
  spanflow collect [-l ADDR] [--json]                                decode what collectors would get
  spanflow version
`)
		for _, group := range []string{"capture", "flow cache", "export", "operations"} {
			fmt.Fprintf(w, "\n%s:\n", strings.ToUpper(group[:1])+group[1:])
			fs.VisitAll(func(f *flag.Flag) {
				g, text, ok := strings.Cut(f.Usage, ": ")
				if !ok || g != group {
					return
				}
				printFlag(w, f, text)
			})
		}
	}
}

func printFlag(w io.Writer, f *flag.Flag, text string) {
	name := "--" + f.Name
	if len(f.Name) == 1 {
		name = "-" + f.Name
	}
	arg, usage := flag.UnquoteUsage(f)
	if _, t, ok := strings.Cut(usage, ": "); ok {
		text = t
	}
	switch arg {
	case "":
	case "value":
		if f.Name != "print" {
			name += " VALUE"
		}
	default:
		name += " " + strings.ToUpper(arg)
	}
	def := ""
	if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
		def = " (default " + f.DefValue + ")"
	}
	fmt.Fprintf(w, "  %-40s %s%s\n", name, text, def)
}

// keepsAddresses reports whether a key keeps both addresses, which router
// mode asks the FIB with.
func keepsAddresses(f bpf.KeyField) bool {
	all := bpf.KeySrcAddr | bpf.KeyDstAddr
	return f == 0 || f&all == all
}
