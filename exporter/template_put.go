package exporter

import (
	"encoding/binary"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/ie"
)

// putV9 and putIPFIX are the hot path: straight-line writers of the flow
// templates v9FlowFields and ipfixFlowFields describe, about twice as fast
// as walking the field list with putFields. TestFastWritersMatchFieldLists
// holds them to the field lists byte for byte.

func putV9(b []byte, r *cache.Record, ref timeRef, v6, bi, app, ntop bool) {
	be := binary.BigEndian
	be.PutUint64(b[0:], r.Bytes)
	be.PutUint64(b[8:], r.Packets)
	o := 16
	if bi {
		be.PutUint64(b[o:], r.RevBytes)
		be.PutUint64(b[o+8:], r.RevPackets)
		o += 16
	}
	be.PutUint32(b[o:], ref.uptime(biStart(r)))
	be.PutUint32(b[o+4:], ref.uptime(biEnd(r)))
	o = putAddrs(b, o+8, r, v6)
	o = putPorts(b, o, r)
	flags := r.TCPFlags
	if r.Bidirectional {
		flags |= r.RevTCPFlags
	}
	o = putRouting(b, o, r)
	b[o] = r.Proto
	b[o+1] = r.ToS
	b[o+2] = flags
	o = putTail(b, o+3, r, v6)
	if app {
		ie.PutAppID(b[o:], r.AppID)
		o += ie.AppIDLen
	}
	if ntop {
		putNtop(b[o:], r, false)
	}
}

func putIPFIX(b []byte, r *cache.Record, v6, bi, app, ntop bool) {
	be := binary.BigEndian
	if bi { // the reverse elements first (ipfixFlowFields says why)
		be.PutUint64(b[0:], r.RevBytes)
		be.PutUint64(b[8:], r.RevPackets)
		be.PutUint64(b[16:], unixMs(r.RevStart))
		be.PutUint64(b[24:], unixMs(r.RevEnd))
		b[32] = r.RevTCPFlags
		b[33] = r.RevToS
		b = b[34:]
	}
	be.PutUint64(b[0:], r.Bytes)
	be.PutUint64(b[8:], r.Packets)
	be.PutUint64(b[16:], unixMs(r.Start))
	be.PutUint64(b[24:], unixMs(r.End))
	o := putAddrs(b, 32, r, v6)
	o = putPorts(b, o, r)
	o = putRouting(b, o, r)
	b[o] = r.TCPFlags
	b[o+1] = r.Proto
	b[o+2] = r.ToS
	o = putTail(b, o+3, r, v6)
	if app { // variable-length: the length, then the value
		b[o] = ie.AppIDLen
		ie.PutAppID(b[o+1:], r.AppID)
		o += 1 + ie.AppIDLen
	}
	if ntop {
		putNtop(b[o:], r, true)
	}
}

// putNtop writes the ntop fields (ntopFields): L7_PROTO, L7_PROTO_NAME,
// then HTTP_HOST, SSL_SERVER_NAME and DNS_QUERY, of which only
// serverKind's holds the server name.
func putNtop(b []byte, r *cache.Record, ipfix bool) {
	binary.BigEndian.PutUint16(b, uint16(r.App()))
	o := 2
	name, server := ntopString(r, ie.KindL7Name), ""
	sk := serverKind(r)
	if sk != ie.KindIgnore {
		server = ntopString(r, sk)
	}
	for _, k := range [...]ie.Kind{ie.KindL7Name, ie.KindHTTPHost, ie.KindSSLServer, ie.KindDNSQuery} {
		s := ""
		switch k {
		case ie.KindL7Name:
			s = name
		case sk:
			s = server
		}
		if ipfix {
			o += varString(b[o:], s)
			continue
		}
		n := ie.NtopServerLen
		if k == ie.KindL7Name {
			n = ie.NtopL7NameLen
		}
		putString(b[o:o+n], s)
		o += n
	}
}

// putAddrs writes source, destination and next hop.
func putAddrs(b []byte, o int, r *cache.Record, v6 bool) int {
	if v6 {
		put16(b[o:], r.SrcAddr)
		put16(b[o+16:], r.DstAddr)
		put16(b[o+32:], r.NextHop)
		return o + 48
	}
	put4(b[o:], r.SrcAddr)
	put4(b[o+4:], r.DstAddr)
	put4(b[o+8:], r.NextHop)
	return o + 12
}

// putPorts writes source port, ICMP type/code and destination port.
func putPorts(b []byte, o int, r *cache.Record) int {
	be := binary.BigEndian
	be.PutUint16(b[o:], r.SrcPort)
	icmp := uint16(0)
	if r.IsICMP() {
		icmp = r.DstPort
	}
	be.PutUint16(b[o+2:], icmp)
	be.PutUint16(b[o+4:], r.DstPort)
	return o + 6
}

// putRouting writes interfaces, AS numbers and VLAN.
func putRouting(b []byte, o int, r *cache.Record) int {
	be := binary.BigEndian
	be.PutUint32(b[o:], r.InIfIndex)
	be.PutUint32(b[o+4:], r.OutIfIndex)
	be.PutUint32(b[o+8:], r.SrcAS)
	be.PutUint32(b[o+12:], r.DstAS)
	be.PutUint16(b[o+16:], r.VLAN)
	return o + 18
}

// putTail writes masks, IP version, direction and end reason.
func putTail(b []byte, o int, r *cache.Record, v6 bool) int {
	b[o] = r.SrcMask
	b[o+1] = r.DstMask
	b[o+2] = 4
	if v6 {
		b[o+2] = 6
	}
	b[o+3] = 0 // ingress
	b[o+4] = uint8(r.EndReason)
	return o + 5
}
