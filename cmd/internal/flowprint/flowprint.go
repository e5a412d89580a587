package flowprint

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
)

// Format is --print: off, text (one flow-print line a flow) or json.
type Format string

func (p *Format) String() string   { return string(*p) }
func (p *Format) IsBoolFlag() bool { return true } // --print alone means text
func (p *Format) Set(v string) error {
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

var EndReasonNames = map[cache.EndReason]string{
	cache.EndIdle:            "idle",
	cache.EndActive:          "active",
	cache.EndOfFlow:          "end-of-flow",
	cache.EndForced:          "forced",
	cache.EndLackOfResources: "lack-of-resources",
}

// Printer writes expired records to stdout in the --print format.
type Printer struct {
	w      io.Writer
	format Format
	enc    *json.Encoder
	header bool
}

func NewPrinter(w io.Writer, format Format) *Printer {
	return &Printer{w: w, format: format, enc: json.NewEncoder(w)}
}

const textHeader = "Date first seen          Duration Proto   Src IP Addr:Port                  Dst IP Addr:Port        Flags   Tos  Packets    Bytes Application      End"

func (p *Printer) Print(recs []cache.Record) error {
	for i := range recs {
		var err error
		if p.format == "json" {
			err = p.enc.Encode(JSONOf(&recs[i]))
		} else {
			if !p.header {
				fmt.Fprintln(p.w, textHeader)
				p.header = true
			}
			err = WriteText(p.w, &recs[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteText writes r as one text line. A record with routing
// information (HasRouting) ends with RoutingText; a mirror port's without
// --prefix-table or --interface-map has none, so its lines keep the
// header's columns alone.
func WriteText(w io.Writer, r *cache.Record) error {
	src := netip.AddrPortFrom(r.SrcAddr, r.SrcPort)
	dst := netip.AddrPortFrom(r.DstAddr, r.DstPort)
	_, err := fmt.Fprintf(w, "%s %8.3f %-7s %-33s -> %-22s %s 0x%02x %8d %8d %-16s %s",
		r.Start.UTC().Format("2006-01-02 15:04:05.000"), r.End.Sub(r.Start).Seconds(), ProtoName(r.Proto),
		src, dst, tcpFlags(r.TCPFlags), r.ToS, r.Packets, r.Bytes, AppText(r), EndReasonNames[r.EndReason])
	if err == nil && r.Bidirectional {
		_, err = fmt.Fprintf(w, " <- %s %d %d", tcpFlags(r.RevTCPFlags), r.RevPackets, r.RevBytes)
	}
	if err == nil && HasRouting(r) {
		_, err = io.WriteString(w, RoutingText(r))
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	return err
}

// JSON is the --print=json form of a record: stable lowercase names.
type JSON struct {
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
	// Direction is "egress" for packets counted as they left out_if
	// (--direction egress); absent for ingress.
	Direction string `json:"direction,omitempty"`
	// Overflow marks an aggregate of the flows the kernel's slot had no
	// room for: src_addr and dst_addr are prefixes (src_mask, dst_mask).
	Overflow  bool   `json:"overflow,omitempty"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	TCPFlags  uint8  `json:"tcp_flags"`
	EndReason string `json:"end_reason"`

	RevPackets  *uint64    `json:"rev_packets,omitempty"`
	RevBytes    *uint64    `json:"rev_bytes,omitempty"`
	RevTCPFlags *uint8     `json:"rev_tcp_flags,omitempty"`
	RevToS      *uint8     `json:"rev_tos,omitempty"`   // the reverse direction's own ToS
	RevInIf     uint32     `json:"rev_in_if,omitempty"` // the interface the reverse direction was captured on
	RevStart    *time.Time `json:"rev_start,omitempty"`
	RevEnd      *time.Time `json:"rev_end,omitempty"`

	SamplingInterval uint32 `json:"sampling_interval,omitempty"`

	// Routing information from --prefix-table: the AS numbers (origin or
	// peer, per --as) and the matched prefix lengths; absent when 0.
	SrcAS   uint32 `json:"src_as,omitempty"`
	DstAS   uint32 `json:"dst_as,omitempty"`
	SrcMask uint8  `json:"src_mask,omitempty"`
	DstMask uint8  `json:"dst_mask,omitempty"`
	// Where a router sends the flow (--mode router, --interface-map):
	// Out is "interface" (OutIf its index), "Local" or "Null" as IOS
	// says it; the next hop (0.0.0.0 or :: on a connected route).
	OutIf   uint32      `json:"out_if,omitempty"`
	Out     string      `json:"out,omitempty"`
	NextHop *netip.Addr `json:"next_hop,omitempty"`

	// Application: its nDPI name ("" when unclassified), how it was
	// known (payload, port-guess, protocol or unknown) and the server
	// name the payload gave.
	Application string `json:"application"`
	AppVerdict  string `json:"app_verdict"`
	AppServer   string `json:"app_server,omitempty"`
}

func JSONOf(r *cache.Record) JSON {
	j := JSON{
		Start: r.Start.UTC(), End: r.End.UTC(),
		SrcAddr: r.SrcAddr, DstAddr: r.DstAddr, SrcPort: r.SrcPort, DstPort: r.DstPort,
		Proto: r.Proto, ToS: r.ToS, VLAN: r.VLAN, InnerVLAN: r.InnerVLAN, InIf: r.InIfIndex,
		Packets: r.Packets, Bytes: r.Bytes, TCPFlags: r.TCPFlags,
		EndReason: EndReasonNames[r.EndReason], SamplingInterval: r.SamplingInterval,
		SrcAS: r.SrcAS, DstAS: r.DstAS, SrcMask: r.SrcMask, DstMask: r.DstMask,
		OutIf: r.OutIfIndex, Out: OutName(r.Out),
		Application: AppName(r), AppVerdict: r.AppKind.String(), AppServer: r.AppServer,
	}
	if r.NextHop.IsValid() {
		nh := r.NextHop
		j.NextHop = &nh
	}
	if r.Egress {
		j.Direction = "egress"
	}
	j.Overflow = r.Overflow
	if r.Bidirectional {
		j.RevPackets, j.RevBytes, j.RevTCPFlags, j.RevToS = &r.RevPackets, &r.RevBytes, &r.RevTCPFlags, &r.RevToS
		j.RevInIf = r.RevIfIndex
		if r.RevPackets > 0 { // an empty direction has no times
			rs, re := r.RevStart.UTC(), r.RevEnd.UTC()
			j.RevStart, j.RevEnd = &rs, &re
		}
	}
	return j
}

// AppName is the name of r's application: nDPI's name for engine 22, the
// RFC 6759 engine:selector pair for another engine, "" when AppID is 0.
func AppName(r *cache.Record) string {
	switch {
	case r.AppID == 0:
		return ""
	case r.App() != app.Unknown:
		return r.App().String()
	}
	return fmt.Sprintf("%d:%d", r.AppID>>24, r.AppID&0xffffff)
}

// AppText is the text column: the name, with "?" when only a port
// suggested it (HTTP? for a web port carrying nothing readable), "-" when
// there is none.
func AppText(r *cache.Record) string {
	n := AppName(r)
	switch {
	case n == "":
		return "-"
	case r.AppKind == cache.AppPortGuess:
		return n + "?"
	}
	return n
}

func ProtoName(p uint8) string {
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

// OutName says where a router sends the flow: "interface" (out_if names
// it), or as IOS names the others, "Local" (to the router itself) and
// "Null" (a discard route); "" when nobody said (a mirror port).
func OutName(o cache.Out) string {
	switch o {
	case cache.OutIface:
		return "interface"
	case cache.OutLocal:
		return "Local"
	case cache.OutNull:
		return "Null"
	}
	return ""
}

// HasRouting says r carries routing information: an output (router mode,
// an --interface-map output port), AS numbers or masks (--prefix-table,
// the kernel's routes) or a next hop.
func HasRouting(r *cache.Record) bool {
	return r.Egress || r.Out != cache.OutUnknown || r.OutIfIndex != 0 || r.SrcAS != 0 || r.DstAS != 0 ||
		r.SrcMask != 0 || r.DstMask != 0 || r.NextHop.IsValid()
}

// RoutingText is the text line's routing tail, as IOS's show ip cache
// verbose flow gives the same fields: input and output interface indexes
// (the output Local, Null, or - when unknown), the next hop (- when
// unknown), then the source's and the destination's mask and AS; "egress"
// first when the packets were counted as they left:
//
//	| in 2 out 7 via 10.0.0.1 src /24 AS64500 dst /16 AS64510
func RoutingText(r *cache.Record) string {
	dir := ""
	if r.Egress {
		dir = " egress"
	}
	via := "-"
	if r.NextHop.IsValid() {
		via = r.NextHop.String()
	}
	out := cache.DstIfName(r, func(i uint32) string { return fmt.Sprint(i) })
	return fmt.Sprintf(" |%s in %d out %s via %s src /%d AS%d dst /%d AS%d",
		dir, r.InIfIndex, out, via, r.SrcMask, r.SrcAS, r.DstMask, r.DstAS)
}
