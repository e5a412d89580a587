package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/spanflow/spanflow/cache"
)

// printFormat is --print: off, text (one flow-print line a flow) or json.
type printFormat string

func (p *printFormat) String() string   { return string(*p) }
func (p *printFormat) IsBoolFlag() bool { return true } // --print alone means text
func (p *printFormat) Set(v string) error {
	switch v {
	case "true", "text":
		*p = "text"
	case "json":
		*p = "json"
	case "false", "":
		*p = ""
	default:
		return fmt.Errorf("must be text or json")
	}
	return nil
}

var endReasonNames = map[cache.EndReason]string{
	cache.EndIdle:            "idle",
	cache.EndActive:          "active",
	cache.EndOfFlow:          "end-of-flow",
	cache.EndForced:          "forced",
	cache.EndLackOfResources: "lack-of-resources",
}

// recordPrinter writes expired records to stdout in the --print format.
type recordPrinter struct {
	w      io.Writer
	format printFormat
	enc    *json.Encoder
	header bool
}

func newRecordPrinter(w io.Writer, format printFormat) *recordPrinter {
	return &recordPrinter{w: w, format: format, enc: json.NewEncoder(w)}
}

const textHeader = "Date first seen          Duration Proto   Src IP Addr:Port                  Dst IP Addr:Port        Flags   Tos  Packets    Bytes End"

func (p *recordPrinter) Print(recs []cache.Record) error {
	for i := range recs {
		var err error
		if p.format == "json" {
			err = p.enc.Encode(jsonRecordOf(&recs[i]))
		} else {
			if !p.header {
				fmt.Fprintln(p.w, textHeader)
				p.header = true
			}
			err = writeTextRecord(p.w, &recs[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func writeTextRecord(w io.Writer, r *cache.Record) error {
	src := netip.AddrPortFrom(r.SrcAddr, r.SrcPort)
	dst := netip.AddrPortFrom(r.DstAddr, r.DstPort)
	_, err := fmt.Fprintf(w, "%s %8.3f %-7s %-33s -> %-22s %s 0x%02x %8d %8d %s",
		r.Start.UTC().Format("2006-01-02 15:04:05.000"), r.End.Sub(r.Start).Seconds(), protoName(r.Proto),
		src, dst, tcpFlags(r.TCPFlags), r.ToS, r.Packets, r.Bytes, endReasonNames[r.EndReason])
	if err == nil && r.Bidirectional {
		_, err = fmt.Fprintf(w, " <- %s %d %d", tcpFlags(r.RevTCPFlags), r.RevPackets, r.RevBytes)
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	return err
}

// jsonRecord is the --print=json form of a record: stable lowercase names.
type jsonRecord struct {
	Start     time.Time  `json:"start"`
	End       time.Time  `json:"end"`
	SrcAddr   netip.Addr `json:"src_addr"`
	DstAddr   netip.Addr `json:"dst_addr"`
	SrcPort   uint16     `json:"src_port"`
	DstPort   uint16     `json:"dst_port"`
	Proto     uint8      `json:"proto"`
	ToS       uint8      `json:"tos"`
	VLAN      uint16     `json:"vlan,omitempty"`
	InnerVLAN uint16     `json:"inner_vlan,omitempty"`
	InIf      uint32     `json:"in_if,omitempty"`
	Packets   uint64     `json:"packets"`
	Bytes     uint64     `json:"bytes"`
	TCPFlags  uint8      `json:"tcp_flags"`
	EndReason string     `json:"end_reason"`

	RevPackets  *uint64    `json:"rev_packets,omitempty"`
	RevBytes    *uint64    `json:"rev_bytes,omitempty"`
	RevTCPFlags *uint8     `json:"rev_tcp_flags,omitempty"`
	RevStart    *time.Time `json:"rev_start,omitempty"`
	RevEnd      *time.Time `json:"rev_end,omitempty"`

	SamplingInterval uint32 `json:"sampling_interval,omitempty"`
}

func jsonRecordOf(r *cache.Record) jsonRecord {
	j := jsonRecord{
		Start: r.Start.UTC(), End: r.End.UTC(),
		SrcAddr: r.SrcAddr, DstAddr: r.DstAddr, SrcPort: r.SrcPort, DstPort: r.DstPort,
		Proto: r.Proto, ToS: r.ToS, VLAN: r.VLAN, InnerVLAN: r.InnerVLAN, InIf: r.InIfIndex,
		Packets: r.Packets, Bytes: r.Bytes, TCPFlags: r.TCPFlags,
		EndReason: endReasonNames[r.EndReason], SamplingInterval: r.SamplingInterval,
	}
	if r.Bidirectional {
		j.RevPackets, j.RevBytes, j.RevTCPFlags = &r.RevPackets, &r.RevBytes, &r.RevTCPFlags
		if r.RevPackets > 0 { // an empty direction has no times
			rs, re := r.RevStart.UTC(), r.RevEnd.UTC()
			j.RevStart, j.RevEnd = &rs, &re
		}
	}
	return j
}

func protoName(p uint8) string {
	switch p {
	case 1:
		return "ICMP"
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 58:
		return "ICMPv6"
	case 132:
		return "SCTP"
	}
	return fmt.Sprint(p)
}

// tcpFlags writes the flag byte as nfdump does: CWR ECE URG ACK PSH RST SYN FIN.
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
