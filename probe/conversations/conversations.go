// Package conversations names the application of flows by conversation:
// it pairs the two directions of a flow, feeds their payload heads to one
// classify.Flow and gives every record of the conversation the same
// verdict. Offline mode feeds it every packet (Observe), the live agent
// the samples of the datapath's ring (ObserveSample); both label the
// records the flow cache expires with it (Label).
//
// It sits beside package probe, not in it: probe hands out samples and
// knows nothing of records; the agent and the benchmarks use both.
package conversations

import (
	"bytes"
	"sync"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
	"github.com/spanflow/spanflow/probe/classify"
)

// Classifier keeps one classify.Flow per conversation (both directions of
// a key together; the sender of the first packet seen is the initiator),
// feeds it the payload heads, and labels each expired record with its
// conversation's verdict (Label), so that a biflow gets one verdict and
// the two unidirectional records of a conversation the same one.
//
// Keys are the records' keys, after key masking: with ports masked off a
// conversation is what the record aggregates, and its verdict is the
// payload's alone (no port to guess from).
//
// Memory is bounded by the flow cache: a conversation is kept while one
// of its directions has a record in the table, its classify.Flow (about
// 400 bytes) only until the verdict is reached or the budget spent, and
// the conversation is forgotten once the records of both its directions
// have ended (idle, end of flow, forced or emergency expiry — an active
// timeout keeps it, the flow goes on). The first verdict handed to a
// record is final for the conversation: the records that follow, of
// either direction, get the same.
//
// A Classifier is safe for concurrent use: live, the sample reader feeds
// it while the harvest labels records and the views read verdicts.
type Classifier struct {
	mu    sync.Mutex
	convs map[bpf.FlowKey]*conversation
	free  []*classify.Flow // classify.Flows of finished conversations, for reuse

	// ended collects the keys of sampled conversations Label forgot, for
	// the live datapath to drop their sampling state (TakeEnded).
	ended []bpf.FlowKey

	started, classified uint64
}

type conversation struct {
	initiator bpf.FlowKey
	flow      *classify.Flow // nil once the verdict is final
	verdict   classify.Verdict
	open      [2]bool // direction has a record in the table (by classify.Direction)
	sampled   bool    // fed by the datapath's samples: it holds sampling state
}

// New returns an empty Classifier.
func New() *Classifier {
	return &Classifier{convs: make(map[bpf.FlowKey]*conversation)}
}

// conversationKey is the key both directions of k's conversation share
// and the direction k is in relative to it: the smaller of k and its
// reverse, byte-wise.
func conversationKey(k bpf.FlowKey) bpf.FlowKey {
	r, ok := cache.ReverseKey(k)
	if !ok || keyLess(k, r) {
		return k
	}
	return r
}

func keyLess(a, b bpf.FlowKey) bool {
	if c := bytes.Compare(a.SrcAddr[:], b.SrcAddr[:]); c != 0 {
		return c < 0
	}
	if c := bytes.Compare(a.DstAddr[:], b.DstAddr[:]); c != 0 {
		return c < 0
	}
	if a.SrcPort != b.SrcPort {
		return a.SrcPort < b.SrcPort
	}
	return a.DstPort < b.DstPort
}

// Observe feeds one accounted packet of key k: head is the start of its
// transport payload, payloadLen its length on the wire. A packet that
// counted nothing (Packets 0) is ignored. Call it after the packet's Delta
// was merged, so that records expired before it are labelled first.
func (c *Classifier) Observe(d cache.Delta, head []byte, payloadLen int) {
	if d.Packets == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.feed(d.Key, head, payloadLen)
}

// ObserveSample feeds one sample of the live datapath, which hands out a
// note for the first packet of each direction (so the initiator is the
// sender of the first sample of a conversation) and the heads of payload
// packets until MarkClassified. It appends to done the keys the datapath
// need sample no more: both directions', when this sample gave the
// conversation its verdict.
func (c *Classifier) ObserveSample(s *probe.AppSample, done []bpf.FlowKey) []bpf.FlowKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv, reached := c.feed(s.Key, s.Head, s.PayloadLen)
	cv.sampled = true
	if !reached {
		return done
	}
	done = append(done, cv.initiator)
	if r, ok := cache.ReverseKey(cv.initiator); ok {
		done = append(done, r)
	}
	return done
}

// feed is Observe's and ObserveSample's work, under c.mu; reached says
// that this packet gave the conversation its verdict.
func (c *Classifier) feed(k bpf.FlowKey, head []byte, payloadLen int) (cv *conversation, reached bool) {
	ck := conversationKey(k)
	cv = c.convs[ck]
	if cv == nil {
		cv = &conversation{initiator: k}
		cv.flow = c.newFlow()
		cv.flow.Reset(k.Proto, k.SrcPort, k.DstPort)
		c.convs[ck] = cv
		c.started++
		if cv.flow.Done() { // known by protocol number
			c.finish(cv)
		}
	}
	dir := cv.direction(k)
	cv.open[dir] = true
	if cv.flow != nil && cv.flow.Feed(dir, head, payloadLen) {
		c.classified++
		c.finish(cv)
		return cv, true
	}
	return cv, false
}

func (cv *conversation) direction(k bpf.FlowKey) classify.Direction {
	if k == cv.initiator {
		return classify.FromInitiator
	}
	return classify.FromResponder
}

func (c *Classifier) newFlow() *classify.Flow {
	if n := len(c.free); n > 0 {
		f := c.free[n-1]
		c.free = c.free[:n-1]
		return f
	}
	return new(classify.Flow)
}

// finish makes the conversation's verdict final and lets its Flow go.
func (c *Classifier) finish(cv *conversation) {
	if cv.flow == nil {
		return
	}
	cv.verdict = cv.flow.Verdict()
	if len(c.free) < maxFreeFlows {
		c.free = append(c.free, cv.flow)
	}
	cv.flow = nil
}

// maxFreeFlows bounds the Flows kept for reuse.
const maxFreeFlows = 1024

// Label sets the application of each record from its conversation's
// verdict, and forgets conversations whose records have all ended.
func (c *Classifier) Label(recs []cache.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		k := r.Key()
		ck := conversationKey(k)
		cv := c.convs[ck]
		if cv == nil {
			// Never observed (classification began later): the kind and
			// ports alone.
			f := classify.NewFlow(k.Proto, k.SrcPort, k.DstPort)
			setVerdict(r, f.Verdict())
			continue
		}
		c.finish(cv)
		setVerdict(r, cv.verdict)
		if r.EndReason == cache.EndActive {
			continue // the flow goes on in a new record
		}
		cv.open[cv.direction(k)] = false
		if r.Bidirectional {
			cv.open = [2]bool{}
		}
		if !cv.open[0] && !cv.open[1] {
			delete(c.convs, ck)
			if cv.sampled {
				c.ended = append(c.ended, cv.initiator)
				if r, ok := cache.ReverseKey(cv.initiator); ok {
					c.ended = append(c.ended, r)
				}
			}
		}
	}
}

// TakeEnded returns the keys (both directions) of the sampled
// conversations forgotten since the last call, and forgets them: the live
// datapath drops their sampling state, so a new flow on the same key is
// sampled afresh.
func (c *Classifier) TakeEnded() []bpf.FlowKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	ended := c.ended
	c.ended = nil
	return ended
}

// Stats are a Classifier's counters.
type Stats struct {
	Started    uint64 // conversations started
	Classified uint64 // conversations whose verdict was reached while fed (classify.Flow.Done)
	Kept       int    // conversations kept now
}

// Stats reads the counters.
func (c *Classifier) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Started: c.started, Classified: c.classified, Kept: len(c.convs)}
}

// VerdictOf is the verdict so far of the conversation key k belongs to,
// for the views of flows still in the table; observed is false when no
// packet of it was seen (the verdict is then the ports' guess alone).
func (c *Classifier) VerdictOf(k bpf.FlowKey) (v classify.Verdict, observed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.convs[conversationKey(k)]
	switch {
	case cv == nil:
		f := classify.NewFlow(k.Proto, k.SrcPort, k.DstPort)
		return f.Verdict(), false
	case cv.flow != nil:
		return cv.flow.Verdict(), true
	}
	return cv.verdict, true
}

func setVerdict(r *cache.Record, v classify.Verdict) {
	r.AppID = cache.AppIDOf(v.App)
	r.AppKind = cache.AppKind(v.Kind)
	r.AppServer = v.Server
	if r.AppID == 0 {
		r.AppKind = cache.AppUnknown
	}
}
