package prefixes

import (
	"net/netip"
	"sync/atomic"

	"github.com/spanflow/spanflow/cache"
)

// Live is the table in use: enrichment reads it without locks while a
// reload builds the next one beside it and swaps it in whole, so a record
// sees either the old table or the new one, never a mix or none.
type Live struct {
	sources []Source
	peer    bool // record the peer AS instead of the origin AS
	cur     atomic.Pointer[Table]
}

// Open loads the sources; peer selects IOS's peer-as (the neighbour AS)
// over origin-as for the records' AS fields.
func Open(sources []Source, peer bool) (*Live, error) {
	t, err := Load(sources...)
	if err != nil {
		return nil, err
	}
	l := &Live{sources: sources, peer: peer}
	l.cur.Store(t)
	return l, nil
}

// Table is the table in use.
func (l *Live) Table() *Table { return l.cur.Load() }

// Sources are the files the tables are loaded from.
func (l *Live) Sources() []Source { return l.sources }

// Reload loads the sources again and swaps the new table in. On an error
// (a broken or missing file) the table in use stays and the error names
// the file and line.
func (l *Live) Reload() (*Table, error) {
	t, err := Load(l.sources...)
	if err != nil {
		return nil, err
	}
	l.cur.Store(t)
	return t, nil
}

// Enrich sets each record's source and destination AS and mask from the
// table in use; an address no prefix covers gets AS 0 and mask 0. A nil
// Live leaves the records alone. The addresses are looked up a batch at a
// time, which is several times faster than one by one (see lookupMany).
func (l *Live) Enrich(recs []cache.Record) {
	if l == nil {
		return
	}
	t := l.cur.Load()
	var addrs [batch]netip.Addr
	var leaves [batch]leaf
	for len(recs) > 0 {
		n := min(len(recs), batch/2)
		for i := range recs[:n] {
			addrs[2*i], addrs[2*i+1] = recs[i].SrcAddr, recs[i].DstAddr
		}
		t.lookupMany(addrs[:2*n], leaves[:2*n])
		for i := range recs[:n] {
			r := &recs[i]
			r.SrcAS, r.SrcMask = t.as(leaves[2*i], l.peer)
			r.DstAS, r.DstMask = t.as(leaves[2*i+1], l.peer)
		}
		recs = recs[n:]
	}
}

func (t *Table) as(l leaf, peer bool) (uint32, uint8) {
	switch {
	case l == 0:
		return 0, 0
	case peer:
		return t.peers[l.peer()], l.bits()
	}
	return l.origin(), l.bits()
}
