package conversations

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
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

// sample is a datapath sample of key carrying payload (a note when empty).
func sample(key bpf.FlowKey, payload string) *probe.AppSample {
	return &probe.AppSample{Key: key, PayloadLen: len(payload), Head: []byte(payload)}
}

func sameKeys(a, b []bpf.FlowKey) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(k bpf.FlowKey) bool { return !slices.Contains(b, k) })
}

// TestConversationSpansInterfacesAndToS: a router sees the request enter
// one port and the reply another, a tap has a NIC per direction, and the
// two directions may carry different DSCP: still one conversation, one
// initiator, one verdict, and only the keys the datapath had are marked
// and forgotten.
func TestConversationSpansInterfacesAndToS(t *testing.T) {
	req := bpf.FlowKey{Proto: 6, SrcPort: 40000, DstPort: 9090, IpVersion: 4, Ifindex: 2, Tos: 0x00}
	req.SrcAddr, req.DstAddr = client.As16(), server.As16()
	rep, _ := cache.ReverseKey(req)
	rep.Ifindex, rep.Tos = 3, 0x28

	c := New()
	var done []bpf.FlowKey
	done = c.ObserveSample(sample(req, ""), done) // SYN
	done = c.ObserveSample(sample(rep, ""), done) // SYN/ACK
	done = c.ObserveSample(sample(req, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"), done)
	if s := c.Stats(); s.Started != 1 || s.Classified != 1 {
		t.Fatalf("%+v: want one conversation, classified", s)
	}
	if !sameKeys(done, []bpf.FlowKey{req, rep}) {
		t.Errorf("marked %+v, want the two keys seen %+v", done, []bpf.FlowKey{req, rep})
	}
	recs := []cache.Record{record(req, cache.EndOfFlow), record(rep, cache.EndOfFlow)}
	c.Label(recs)
	for _, r := range recs {
		if r.AppID != httpAppID || r.AppKind != cache.AppPayload || r.AppServer != "a.example" {
			t.Errorf("record in on %d ToS %#x: %#x %s %q, want HTTP by payload", r.InIfIndex, r.ToS, r.AppID, r.AppKind, r.AppServer)
		}
	}
	if ended := c.TakeEnded(); c.Stats().Kept != 0 || !sameKeys(ended, []bpf.FlowKey{req, rep}) {
		t.Errorf("%d kept, ended %+v; want none kept and the keys seen ended", c.Stats().Kept, ended)
	}
}

// TestLateDirectionIsMarkedWhenSeen: a DNS query gives the verdict before
// the answer's direction exists in the datapath; its key is marked once
// its first sample shows it exists, not before.
func TestLateDirectionIsMarkedWhenSeen(t *testing.T) {
	query := bpf.FlowKey{Proto: 17, SrcPort: 50000, DstPort: 53, IpVersion: 4, Ifindex: 2}
	query.SrcAddr, query.DstAddr = client.As16(), server.As16()
	answer, _ := cache.ReverseKey(query)
	dns := "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"

	c := New()
	if done := c.ObserveSample(sample(query, dns), nil); !sameKeys(done, []bpf.FlowKey{query}) {
		t.Fatalf("query marked %+v, want its own key only", done)
	}
	if done := c.ObserveSample(sample(answer, ""), nil); !sameKeys(done, []bpf.FlowKey{answer}) {
		t.Errorf("answer's first sample marked %+v, want its key", done)
	}
}

// TestSweepForgetsWhatTheTableNeverHeld: a sampled key whose packets the
// table never held (the kernel's flow slot was full) is closed at the
// second sweep after it came, and its conversation forgotten; a key the
// table holds is left to Label, sweep after sweep.
func TestSweepForgetsWhatTheTableNeverHeld(t *testing.T) {
	lost := bpf.FlowKey{Proto: 6, SrcPort: 40001, DstPort: 9090, IpVersion: 4, Ifindex: 2}
	lost.SrcAddr, lost.DstAddr = client.As16(), server.As16()
	held := lost
	held.SrcPort = 40002
	table := map[bpf.FlowKey]bool{held: true}
	inTable := func(k bpf.FlowKey) bool { return table[k] }

	c := New()
	c.ObserveSample(sample(lost, ""), nil)
	c.ObserveSample(sample(held, ""), nil)
	c.Sweep(inTable) // both came since the last sweep: not checked yet
	if n := c.Stats().Kept; n != 2 {
		t.Fatalf("first sweep: %d conversations kept, want 2", n)
	}
	c.Sweep(inTable)
	if n, ended := c.Stats().Kept, c.TakeEnded(); n != 1 || !sameKeys(ended, []bpf.FlowKey{lost}) {
		t.Fatalf("second sweep: %d kept, ended %+v; want 1 kept and the lost key ended", n, ended)
	}
	delete(table, held) // its record ended; Label, not the sweep, closes it
	c.Sweep(inTable)
	c.Sweep(inTable)
	if n := c.Stats().Kept; n != 1 {
		t.Errorf("%d kept after more sweeps, want the held conversation", n)
	}
	c.Label([]cache.Record{record(held, cache.EndIdle)})
	if n, ended := c.Stats().Kept, c.TakeEnded(); n != 0 || !sameKeys(ended, []bpf.FlowKey{held}) {
		t.Errorf("after Label: %d kept, ended %+v", n, ended)
	}
}
