package conversations

import (
	"net/netip"
	"testing"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe/classify"
)

var (
	client = netip.MustParseAddr("198.18.0.10")
	server = netip.MustParseAddr("198.19.0.80")
)

// httpAppID is the applicationId of HTTP, restated by hand: engine 22
// (nDPI) in the top byte, nDPI's protocol number 7 as the selector.
const httpAppID = 22<<24 | 7

// record is a one-way record of key that ended for why.
func record(key bpf.FlowKey, why cache.EndReason) cache.Record {
	return cache.Record{SrcAddr: netip.AddrFrom16(key.SrcAddr), DstAddr: netip.AddrFrom16(key.DstAddr),
		SrcPort: key.SrcPort, DstPort: key.DstPort, Proto: key.Proto, IPVersion: 4, Packets: 1, EndReason: why,
		InIfIndex: key.Ifindex, ToS: key.Tos}
}

// TestClassifierForgetsEndedConversations: the classifier keeps a
// conversation while one of its directions has a record in the table,
// keeps it over an active timeout, and forgets it when both ended.
func TestClassifierForgetsEndedConversations(t *testing.T) {
	k := bpf.FlowKey{Proto: 6, SrcPort: 40000, DstPort: 9090, IpVersion: 4}
	k.SrcAddr = client.As16()
	k.DstAddr = server.As16()
	rk, _ := cache.ReverseKey(k)
	c := New()
	get := []byte("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
	c.Observe(cache.Delta{Key: k, Packets: 1}, nil, 0) // SYN
	c.Observe(cache.Delta{Key: rk, Packets: 1}, nil, 0)
	c.Observe(cache.Delta{Key: k, Packets: 1}, get, len(get))
	if c.Stats().Kept != 1 || c.started != 1 || c.classified != 1 {
		t.Fatalf("%d conversations kept, %d started, %d classified; want 1, 1, 1", c.Stats().Kept, c.started, c.classified)
	}
	for _, step := range []struct {
		r    cache.Record
		kept int
	}{
		{record(k, cache.EndActive), 1},
		{record(k, cache.EndIdle), 1}, // the reverse direction is still open
		{record(rk, cache.EndOfFlow), 0},
	} {
		recs := []cache.Record{step.r}
		c.Label(recs)
		if recs[0].AppID != httpAppID || recs[0].AppKind != cache.AppPayload || recs[0].AppServer != "a.example" {
			t.Errorf("%s:%d end %d: %#x %s %q", recs[0].SrcAddr, recs[0].SrcPort, step.r.EndReason, recs[0].AppID, recs[0].AppKind, recs[0].AppServer)
		}
		if c.Stats().Kept != step.kept {
			t.Errorf("after a record ending %d: %d conversations kept, want %d", step.r.EndReason, c.Stats().Kept, step.kept)
		}
	}
	// The verdict kinds are classify's, value for value.
	for k, want := range map[classify.Kind]cache.AppKind{classify.KindUnknown: cache.AppUnknown,
		classify.KindPayload: cache.AppPayload, classify.KindPortGuess: cache.AppPortGuess, classify.KindProtocol: cache.AppProtocol} {
		if cache.AppKind(k) != want {
			t.Errorf("classify kind %s is %d, cache's %s is %d", k, k, want, want)
		}
	}
	// Many short conversations leave nothing behind.
	for i := range 10000 {
		key := k
		key.SrcPort = uint16(i)
		c.Observe(cache.Delta{Key: key, Packets: 1}, get, len(get))
		c.Label([]cache.Record{record(key, cache.EndIdle)})
	}
	if c.Stats().Kept != 0 || len(c.free) > maxFreeFlows {
		t.Errorf("%d conversations and %d free flows kept after they all ended", c.Stats().Kept, len(c.free))
	}
}
