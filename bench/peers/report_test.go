package peers

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Markdown renders the report: how it ran, the table, start-up and
// shut-down costs, and where each run's packets went.
func (rep *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Peer benchmark: spanflow, softflowd, pmacctd\n\n")
	p("Written by `make bench-peers` (scripts/bench-peers.sh, bench/peers). %s to %s, commit %s (%s), kernel %s, %s; load average %s at the start.\n\n",
		rep.Started.Format("2006-01-02 15:04"), rep.Finished.Format("15:04 UTC"), rep.Commit, rep.Spanflow, rep.Kernel, rep.CPUs, rep.firstLoad())
	p("%s", method)
	p("\n## Results\n\n")
	p("Packets and bytes: nfdump's totals ÷ what was sent. Flows: sent flows (5-tuples) with at least one record ÷ flows sent; `+N` counts records' 5-tuples that were no flow sent (aggregates). CPU per million packets sent: the probe's processes from the first packet until idle after the last; the capture interface's NAPI thread (where spanflow's XDP program runs, and the AF_PACKET copies for the others); the whole machine over the sending window, sender included (`other`: the part that was none of sender, NAPI thread, probe and collector). RSS: peak resident memory (VmHWM) of the probe's processes. Collector drops: datagrams nfcapd's socket dropped (its buffer is 8 MiB, twice net.core.rmem_max here): records the probe sent that count as lost.\n\n")
	p("![accounted packets and CPU per million packets against the offered rate](peers.png)\n\n")
	p("| mix | rate | probe | sent | packets %% | bytes %% | flows | collector drops | probe CPU s/Mpkt | NAPI s/Mpkt | machine s/Mpkt (other) | RSS MiB |\n")
	p("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Runs {
		foreign := ""
		if r.Got.Foreign > 0 {
			foreign = fmt.Sprintf(" +%d", r.Got.Foreign)
		}
		p("| %s | %s | %s | %s at %s/s | %.2f | %.2f | %.1f %% of %s%s | %d | %.2f | %.2f | %.2f (%.2f) | %d |\n",
			r.Mix, rateName(r.Rate), r.Probe, count(r.Sent.Packets), count(uint64(r.OfferedPPS)), r.PacketsPct, r.BytesPct,
			r.FlowsPct, count(r.Sent.Flows), foreign, r.CollectorDrops, r.PerMpkt(r.SteadyCPU), r.PerMpkt(r.NAPICPU),
			r.PerMpkt(r.MachineCPU), r.PerMpkt(r.OtherCPU), r.PeakRSSKiB>>10)
	}

	p("\n## Start-up and shut-down\n\n")
	p("CPU seconds of the probe's processes until ready (spanflow: loading and verifying its XDP program), and from the stop request until exit (exporting what it held), median and largest over the runs above.\n\n")
	p("| probe | start-up CPU s | shut-down CPU s (max) |\n|---|---:|---:|\n")
	for _, name := range rep.probeNames() {
		var start, stop []float64
		for _, r := range rep.Runs {
			if r.Probe == name {
				start, stop = append(start, r.StartCPU), append(stop, r.ShutdownCPU)
			}
		}
		p("| %s | %.2f | %.2f (%.2f) |\n", name, median(start), median(stop), slices.Max(stop))
	}

	p("\n## Where the packets went\n\n")
	p("Per run: frames the capture interface received and dropped (veth counters), frames the sender's qdisc refused and the generator sent again (never lost), datagrams nfcapd's socket dropped, what the probe says of itself (softflowd: softflowctl statistics; pmacctd: its core's counters on SIGUSR1 and its warnings), and the load average as the run started (the machine is shared: other work shows as `other` CPU above).\n\n")
	p("| run | load | sent | capture rx (dropped) | sender retries | collector drops | the probe says |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, r := range rep.Runs {
		p("| %s/%s/%s | %s | %d | %d (%d) | %d | %d | %s |\n", r.Mix, rateName(r.Rate), r.Probe, r.LoadAvg, r.Sent.Packets,
			r.CaptureRx, r.CaptureRxDropped, r.QdiscRefused, r.CollectorDrops, probeSays(r))
	}
	return b.String()
}

const method = `
How it runs (one run per mix × rate × probe, each on a fresh pair of network namespaces):

- **Traffic**: livegen.c (bpf/benchprog) writes every frame from a sequence number and the mix, and its ground truth is recomputed from the numbers used (bench/peers/mix.go, checked against the program's own counts). It runs by BPF_PROG_RUN from the sender's namespace: in live-frames mode where the kernel allows it, else (as here: live frames answer EPERM) as a TC program whose clone redirects the sender's pfifo_fast qdisc accepts or refuses; a refused frame is tried again, so nothing is lost between sender and capture interface and top speed is as fast as the capture side drains the veth. The sender thread is pinned to CPU 0, the capture interface's NAPI thread to CPU 1; probes and collectors go where the scheduler puts them.
- **Mixes**: steady (1,024 long TCP flows, round robin, 60-1,020-byte frames); realistic (units of a DNS query and answer, an ICMP echo and reply and three TCP sessions — IPv4, IPv6, 802.1Q-tagged IPv4 — both directions, 256 units under way); short (flows of 1-5 packets, 256 under way; at the paced rate 100,096 flows); flood (every packet a 60-byte TCP SYN from a new source address in 198.18.0.0/15 and port to one target). Paced runs send 500,000 packets (short: its 100,096 flows) at 100,000/s; top-speed runs send for 5 s.
- **Probes**, as an operator starts them, each exporting NetFlow v9 to its own nfcapd on the capture namespace's loopback: ` + "`spanflow -i pbrx0 -n 127.0.0.1:9995 -v 9`" + ` (plus --control and a --pin-dir of its own); ` + "`softflowd -d -i pbrx0 -n 127.0.0.1:9995 -v 9`" + `; pmacctd with the nfprobe plugin (aggregate src_host, dst_host, src_port, dst_port, proto, tos; nfprobe_version 9). softflowd and pmacctd capture through libpcap; for them an XDP program that only counts and passes (xdp_baseline) is attached to the capture interface so that it receives through NAPI as it does under spanflow's XDP program: the same receive path for all three.
- **Stopping**: once traffic stops and the probe's CPU time stops moving, it is asked to export what it holds and exit: spanflow by SIGTERM; softflowd by ` + "`softflowctl shutdown`" + ` and pmacctd by SIGINT, because both exit on SIGTERM without exporting their active flows (softflowd 1.1.0 despite its manual; pmacctd 1.7.7 as its nfacctd does). No active timeout is needed: every record arrives at the stop.
`

// probeSays picks out what a probe reports about itself: spanflow's
// non-zero outcomes and fill harvests, softflowd's packet and flow
// counters, pmacctd's warnings.
func probeSays(r Result) string {
	var says []string
	switch r.Probe {
	case "spanflow":
		var st struct {
			Packets      map[string]uint64
			FillHarvests uint64
			PeakEntries  uint64
		}
		if err := json.Unmarshal([]byte(r.ProbeStats), &st); err != nil {
			return "stats: " + err.Error()
		}
		keys := make([]string, 0, len(st.Packets))
		for k := range st.Packets {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if st.Packets[k] != 0 {
				says = append(says, fmt.Sprintf("%s %d", k, st.Packets[k]))
			}
		}
		says = append(says, fmt.Sprintf("peak slot entries %d, fill harvests %d", st.PeakEntries, st.FillHarvests))
	case "softflowd":
		for _, re := range softflowdLines {
			if m := re.FindString(r.ProbeStats); m != "" {
				says = append(says, m)
			}
		}
	default:
		if m := pmacctdCapture.FindString(r.ProbeStats); m != "" {
			says = append(says, m)
		}
		for _, l := range strings.Split(r.ProbeLog, "\n") {
			if pmacctdWarn.MatchString(l) && !pmacctdStopping.MatchString(l) {
				says = append(says, strings.TrimSpace(l))
			}
		}
	}
	for _, l := range strings.Split(r.ProbeLog, "\n") {
		if r.Probe == "spanflow" && (strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR")) {
			says = append(says, strings.TrimSpace(l))
		}
	}
	return strings.ReplaceAll(strings.Join(says, "; "), "|", "/")
}

var (
	softflowdLines = []*regexp.Regexp{
		regexp.MustCompile(`Packets processed: \d+`),
		regexp.MustCompile(`Flows expired: \d+ \(\d+ forced\)`),
		regexp.MustCompile(`Packets dropped by libpcap: \d+`),
	}
	pmacctdCapture = regexp.MustCompile(`received_packets=\d+ dropped_packets=\d+`)
	pmacctdWarn    = regexp.MustCompile(`^(WARN|ERROR) \(`)
	// What pmacctd's core logs on every SIGINT, once its plugin has gone.
	pmacctdStopping = regexp.MustCompile(`connection lost to '.*'; closing connection|no more plugins active`)
)

func (rep *Report) probeNames() []string {
	var names []string
	for _, r := range rep.Runs {
		if !slices.Contains(names, r.Probe) {
			names = append(names, r.Probe)
		}
	}
	return names
}

func (rep *Report) firstLoad() string {
	if len(rep.Runs) == 0 {
		return "?"
	}
	return rep.Runs[0].LoadAvg
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// count writes n with thousands separators.
func count(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
