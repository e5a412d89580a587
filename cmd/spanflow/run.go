package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
)

// run loads the datapath, attaches it and prints every harvested delta
// until ctx ends, then harvests one last time.
func runLive(ctx context.Context, cfg *Config, log *slog.Logger) error {
	p, err := probe.Open(cfg.options)
	if err != nil {
		return err
	}
	defer p.Close()
	names := map[uint32]string{}
	for _, iface := range cfg.Interfaces {
		a, err := p.Attach(iface, cfg.mode, cfg.Promisc)
		if err != nil {
			return err
		}
		names[uint32(a.Index)] = iface
		if a.Fallback != nil {
			log.Warn("native XDP refused, attached in generic mode", "interface", iface, "reason", a.Fallback)
		}
		log.Info("attached", "interface", iface, "mode", a.Mode, "action", cfg.options.Action)
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}

	tick := time.NewTicker(cfg.HarvestInterval)
	defer tick.Stop()
	var deltas []cache.Delta
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		var stats probe.Stats
		deltas, stats, err = p.Harvest(deltas[:0])
		if err != nil {
			return err
		}
		for i := range deltas {
			printDelta(os.Stdout, &deltas[i], names)
		}
		if done {
			logStats(log, &stats)
		}
	}
	return nil
}

var statNames = [bpf.StatMax]string{"accounted", "not_ip", "truncated", "malformed", "unsupported", "sampled_out", "map_full", "no_l4"}

func logStats(log *slog.Logger, s *probe.Stats) {
	args := []any{"packets", s.Total()}
	for r, v := range s {
		args = append(args, statNames[r], v.Packets)
	}
	log.Info("datapath stats", args...)
}

// printDelta writes one flow-print style line.
func printDelta(w io.Writer, d *cache.Delta, names map[uint32]string) {
	k := &d.Key
	iface := names[k.Ifindex]
	if iface == "" {
		iface = fmt.Sprint(k.Ifindex)
	}
	src := netip.AddrPortFrom(k.SrcIP(), k.SrcPort)
	dst := netip.AddrPortFrom(k.DstIP(), k.DstPort)
	fmt.Fprintf(w, "%s %-6s %-6s %s -> %s vlan %d tos 0x%02x flags %s %d pkts %d bytes\n",
		monoToWall(d.FirstNs).Format("15:04:05.000"), iface, protoName(k.Proto),
		src, dst, k.VlanId, k.Tos, tcpFlags(d.TCPFlags), d.Packets, d.Bytes)
}

func monoToWall(ns uint64) time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(uint64(ts.Nano()) - ns))
}

func protoName(p uint8) string {
	switch p {
	case 1:
		return "ICMP"
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 58:
		return "ICMPv6"
	case 132:
		return "SCTP"
	}
	return fmt.Sprint(p)
}

func tcpFlags(f uint8) string {
	const names = "FSRPAUEC"
	out := []byte("........")
	for i := range 8 {
		if f&(1<<i) != 0 {
			out[7-i] = names[i]
		}
	}
	return string(out)
}
