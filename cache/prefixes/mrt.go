package prefixes

import (
	"errors"
	"fmt"
	"io"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/packet/mrt"
)

// readMRT reads a TABLE_DUMP_V2 RIB dump (RFC 6396) with gobgp's MRT
// parser: the PEER_INDEX_TABLE, then RIB_IPV4_UNICAST and RIB_IPV6_UNICAST
// records (and their ADD-PATH forms, RFC 8050). Each prefix takes the
// first RIB entry's AS path: origin = its last AS, peer = its first AS;
// an empty path (a route the peer originates) gives the peer's AS for
// both. Other TABLE_DUMP_V2 subtypes (multicast, generic, geo) are
// skipped; other MRT types are refused.
func (t *Table) readMRT(r io.Reader, path string) error {
	var peers []*mrt.Peer
	var off int64
	hdr := make([]byte, mrt.MRT_COMMON_HEADER_LEN)
	var body []byte
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: MRT record at offset %d (uncompressed): %s", path, off, fmt.Sprintf(format, args...))
	}
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				if n == 0 {
					return fail("empty file")
				}
				return nil
			}
			return fail("header: %v", err)
		}
		h, err := mrt.ParseHeader(hdr)
		if err != nil {
			return fail("header: %v", err)
		}
		if h.Type != mrt.TABLE_DUMPv2 {
			return fail("MRT type %d: not a TABLE_DUMP_V2 RIB dump (type 13)", h.Type)
		}
		if h.Len > 1<<24 {
			return fail("record length %d: too long", h.Len)
		}
		if cap(body) < int(h.Len) {
			body = make([]byte, h.Len)
		}
		body = body[:h.Len]
		if _, err := io.ReadFull(r, body); err != nil {
			return fail("record cut short: %v", err)
		}
		switch mrt.MRTSubTypeTableDumpv2(h.SubType) {
		case mrt.PEER_INDEX_TABLE:
			m, err := mrt.ParseBody(body, h)
			if err != nil {
				return fail("PEER_INDEX_TABLE: %v", err)
			}
			peers = m.Body.(*mrt.PeerIndexTable).Peers
		case mrt.RIB_IPV4_UNICAST, mrt.RIB_IPV6_UNICAST, mrt.RIB_IPV4_UNICAST_ADDPATH, mrt.RIB_IPV6_UNICAST_ADDPATH:
			m, err := mrt.ParseBody(body, h)
			if err != nil {
				return fail("RIB: %v", err)
			}
			if err := t.ribRecord(m.Body.(*mrt.Rib), peers); err != nil {
				return fail("RIB: %v", err)
			}
		}
		off += int64(len(hdr)) + int64(h.Len)
	}
}

func (t *Table) ribRecord(rib *mrt.Rib, peers []*mrt.Peer) error {
	if len(rib.Entries) == 0 {
		return nil // a prefix no peer has: nothing to say
	}
	nlri, ok := rib.Prefix.(*bgp.IPAddrPrefix)
	if !ok {
		return fmt.Errorf("prefix of type %T, want an IP prefix", rib.Prefix)
	}
	pfx := nlri.Prefix
	e := rib.Entries[0]
	if int(e.PeerIndex) >= len(peers) {
		return fmt.Errorf("%s: peer index %d, but the PEER_INDEX_TABLE has %d peers", pfx, e.PeerIndex, len(peers))
	}
	origin, peer := pathEnds(e.PathAttributes)
	if origin == 0 {
		origin = peers[e.PeerIndex].AS
	}
	if peer == 0 {
		peer = peers[e.PeerIndex].AS
	}
	t.insert(pfx, origin, peer)
	return nil
}

// pathEnds returns the last AS of the AS path's last AS_SEQUENCE (the
// origin; an AS_SET after it was aggregated by that AS; a path that is
// only an AS_SET gives the set's first AS) and the first AS
// of its first segment (the neighbour); 0 for what the path lacks.
// Confederation segments are internal to the neighbour and skipped.
// In TABLE_DUMP_V2 every AS path is in 4-byte form (RFC 6396 4.3.4).
func pathEnds(attrs []bgp.PathAttributeInterface) (origin, peer uint32) {
	for _, a := range attrs {
		path, ok := a.(*bgp.PathAttributeAsPath)
		if !ok {
			continue
		}
		for _, seg := range path.Value {
			as := seg.GetAS()
			switch seg.GetType() {
			case bgp.BGP_ASPATH_ATTR_TYPE_SEQ:
				if len(as) > 0 {
					origin = as[len(as)-1]
				}
			case bgp.BGP_ASPATH_ATTR_TYPE_SET:
				if origin == 0 && len(as) > 0 {
					origin = as[0] // a path that is only a set
				}
			default:
				continue
			}
			if peer == 0 && len(as) > 0 {
				peer = as[0]
			}
		}
	}
	return origin, peer
}
