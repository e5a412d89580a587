package probe

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"

	"github.com/spanflow/spanflow/bpf"
)

// Decap names the tunnels whose inner packet is the mirrored traffic
// (--decap): the inner packet is accounted, the outer one not at all.
type Decap struct {
	VXLAN      bool
	VXLANPort  uint16 // 0 means 4789
	GENEVE     bool
	GENEVEPort uint16 // 0 means 6081
	ERSPAN     bool   // types I, II and III over GRE
}

// Default tunnel ports (IANA).
const (
	DefaultVXLANPort  = 4789
	DefaultGENEVEPort = 6081
)

// On reports whether any tunnel is opened.
func (d Decap) On() bool { return d.VXLAN || d.GENEVE || d.ERSPAN }

func (d Decap) bits() uint32 {
	var b uint32
	if d.VXLAN {
		b |= uint32(bpf.DecapVXLAN)
	}
	if d.GENEVE {
		b |= uint32(bpf.DecapGENEVE)
	}
	if d.ERSPAN {
		b |= uint32(bpf.DecapERSPAN)
	}
	return b
}

func (d Decap) vxlanPort() uint16 {
	if d.VXLANPort == 0 {
		return DefaultVXLANPort
	}
	return d.VXLANPort
}

func (d Decap) genevePort() uint16 {
	if d.GENEVEPort == 0 {
		return DefaultGENEVEPort
	}
	return d.GENEVEPort
}

// ParseDecap adds one --decap value: erspan, vxlan[:PORT] or geneve[:PORT].
func (d *Decap) Parse(s string) error {
	kind, port, hasPort := strings.Cut(s, ":")
	var p uint64
	if hasPort {
		var err error
		if p, err = strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return fmt.Errorf("%q: the port must be 1 to 65535", s)
		}
	}
	switch {
	case kind == "vxlan":
		d.VXLAN, d.VXLANPort = true, uint16(p)
	case kind == "geneve":
		d.GENEVE, d.GENEVEPort = true, uint16(p)
	case kind == "erspan" && !hasPort:
		d.ERSPAN = true
	default:
		return fmt.Errorf("%q: must be erspan, vxlan[:PORT] or geneve[:PORT]", s)
	}
	return nil
}

// maxFrameOffset mirrors MAX_FRAME_OFFSET: an inner frame starting later
// is not parsed.
const maxFrameOffset = 1024

// GRE header bits and ERSPAN protocol types.
const (
	greCsum    = 0x8000
	greRouting = 0x4000
	greKey     = 0x2000
	greSeq     = 0x1000
	greVersion = 0x0007

	etherTypeERSPAN2 = 0x88be // types I and II
	etherTypeERSPAN3 = 0x22eb // type III
)

// tunnelInner mirrors tunnel_inner: where the inner Ethernet frame starts
// in frame when the packet parsed into p, whose transport header is at
// l4Off with l4Len bytes of IP payload, is a tunnel d opens, 0 if not; id
// is the tunnel's VNI or ERSPAN session under its kind (bpf.TunnelVNI,
// bpf.TunnelSession) in the high byte.
func (d Decap) tunnelInner(frame []byte, p *Parsed, l4Off, l4Len int) (inner int, id uint32) {
	if l4Off == 0 {
		return 0, 0
	}
	load := func(off, n int) []byte { // bpf_xdp_load_bytes: all or nothing
		if off+n > len(frame) {
			return nil
		}
		return frame[off : off+n]
	}
	switch layers.IPProtocol(p.Key.Proto) {
	case layers.IPProtocolUDP:
		h := load(l4Off+8, 8)
		if l4Len < 16 || h == nil {
			return 0, 0
		}
		vni := uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
		switch {
		case d.VXLAN && p.Key.DstPort == d.vxlanPort():
			if h[0]&0x08 == 0 {
				return 0, 0
			}
			return l4Off + 16, uint32(bpf.TunnelVNI)<<24 | vni
		case d.GENEVE && p.Key.DstPort == d.genevePort():
			opts := int(h[0]&0x3f) * 4
			if h[0]>>6 != 0 || h[2] != 0x65 || h[3] != 0x58 || l4Len < 16+opts {
				return 0, 0
			}
			return l4Off + 16 + opts, uint32(bpf.TunnelVNI)<<24 | vni
		}
	case layers.IPProtocolGRE:
		h := load(l4Off, 4)
		if !d.ERSPAN || l4Len < 4 || h == nil {
			return 0, 0
		}
		flags, proto := binary.BigEndian.Uint16(h), binary.BigEndian.Uint16(h[2:])
		if flags&(greVersion|greRouting) != 0 {
			return 0, 0
		}
		gre := 4
		for _, bit := range []uint16{greCsum, greKey, greSeq} {
			if flags&bit != 0 {
				gre += 4
			}
		}
		var erspan int
		switch {
		case proto == etherTypeERSPAN2 && flags&greSeq == 0:
			erspan = 0 // type I
		case proto == etherTypeERSPAN2:
			h = load(l4Off+gre, 8)
			if l4Len < gre+8 || h == nil || h[0]>>4 != 1 {
				return 0, 0
			}
			erspan = 8
		case proto == etherTypeERSPAN3:
			h = load(l4Off+gre, 12)
			if l4Len < gre+12 || h == nil || h[0]>>4 != 2 {
				return 0, 0
			}
			erspan = 12
			if h[11]&0x01 != 0 {
				erspan = 20
			}
		default:
			return 0, 0
		}
		if l4Len < gre+erspan {
			return 0, 0
		}
		if erspan > 0 {
			id = uint32(bpf.TunnelSession)<<24 | uint32(h[2]&0x03)<<8 | uint32(h[3])
		}
		return l4Off + gre + erspan, id
	}
	return 0, 0
}
