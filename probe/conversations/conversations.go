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
// a flow together; the sender of the first packet seen is the initiator),
// feeds it the payload heads, and labels each expired record with its
// conversation's verdict (Label), so that a biflow gets one verdict and
// the one-way records of a conversation the same one.
//
// Keys are the records' keys, after key masking: with ports masked off a
// conversation is what the record aggregates, and its verdict is the
// payload's alone (no port to guess from). The conversation leaves out
// the interface and the ToS byte (conversationKey); it remembers the keys
// it saw, as the datapath has them, so that only those are marked and
// forgotten there.
//
// Memory is bounded by the flow cache: a conversation is kept while one
// of its keys has a record in the table, its classify.Flow (about 400
// bytes) only until the verdict is reached or the budget spent, and the
// conversation is forgotten once the records of all its keys have ended
// (idle, end of flow, forced or emergency expiry — an active timeout
// keeps it, the flow goes on). A key that samples opened but the table
// never held (its packets found the kernel's flow slot full) is closed by
// Sweep. The first verdict handed to a record is final for the
// conversation: the records that follow, of either direction, get the
// same.
//
// A Classifier is safe for concurrent use: live, the sample reader feeds
// it while the harvest labels records and the views read verdicts.
type Classifier struct {
	mu    sync.Mutex
	convs map[bpf.FlowKey]*conversation
	free  []*classify.Flow // classify.Flows of finished conversations, for reuse

	// ended collects the keys of sampled conversations that were
	// forgotten, for the live datapath to drop their sampling state
	// (TakeEnded).
	ended []bpf.FlowKey

	// Keys opened by samples since the last sweep (recent) and in the
	// period before it (older), for Sweep to check against the table.
	recent, older []opened
	spare         []opened // the array of the last check, for the next recent
	sweeps        uint64

	started, classified uint64
}

type conversation struct {
	initiator bpf.FlowKey    // the first key seen
	flow      *classify.Flow // nil once the verdict is final
	verdict   classify.Verdict
	keys      []seenKey // every key seen, of either direction; two, mostly
	sampled   bool      // fed by the datapath's samples: its keys hold sampling state there
}

// seenKey is one key of a conversation as the datapath has it.
type seenKey struct {
	key   bpf.FlowKey
	open  bool   // its record is (or is about to be) in the table
	sweep uint64 // Classifier.sweeps when a sample last opened it
}

// opened is a key a sample opened, for Sweep.
type opened struct {
	key   bpf.FlowKey
	sweep uint64
}

// New returns an empty Classifier.
func New() *Classifier {
	return &Classifier{convs: make(map[bpf.FlowKey]*conversation)}
}

// pairable is k without what may differ between the directions of one
// conversation: the interface (on a router the request comes in one port
// and the reply another; a tap has a NIC per direction) and the ToS byte
// (DSCP may differ by direction, or be re-marked).
func pairable(k bpf.FlowKey) bpf.FlowKey {
	k.Ifindex, k.Tos = 0, 0
	return k
}

// conversationKey is the key both directions of k's conversation share:
// the smaller, byte-wise, of pairable k and its reverse.
func conversationKey(k bpf.FlowKey) bpf.FlowKey {
	k = pairable(k)
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
	c.feed(d.Key, head, payloadLen, false)
}

// ObserveSample feeds one sample of the live datapath, which hands out a
// note for the first packet of each key (so the initiator is the sender
// of the first sample of a conversation) and the heads of payload
// packets until MarkClassified. It appends to done the keys the datapath
// need sample no more: every key seen of the conversation when this
// sample gave it its verdict, the sample's own when the verdict came
// before (its key is new to the datapath).
func (c *Classifier) ObserveSample(s *probe.AppSample, done []bpf.FlowKey) []bpf.FlowKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv, reached := c.feed(s.Key, s.Head, s.PayloadLen, true)
	switch {
	case reached:
		for _, sk := range cv.keys {
			done = append(done, sk.key)
		}
	case cv.flow == nil:
		done = append(done, s.Key)
	}
	return done
}

// feed is Observe's and ObserveSample's work, under c.mu; reached says
// that this packet gave the conversation its verdict.
func (c *Classifier) feed(k bpf.FlowKey, head []byte, payloadLen int, sampled bool) (cv *conversation, reached bool) {
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
	c.open(cv, k, sampled)
	if cv.flow != nil && cv.flow.Feed(cv.direction(k), head, payloadLen) {
		c.classified++
		c.finish(cv)
		return cv, true
	}
	return cv, false
}

// open notes that key k of cv has (or is about to have) a record in the
// table; a sampled key is then checked by the sweeps.
func (c *Classifier) open(cv *conversation, k bpf.FlowKey, sampled bool) {
	cv.sampled = cv.sampled || sampled
	sk := cv.seen(k)
	if sk == nil {
		cv.keys = append(cv.keys, seenKey{key: k})
		sk = &cv.keys[len(cv.keys)-1]
	}
	if sk.open {
		return
	}
	sk.open = true
	if sampled {
		sk.sweep = c.sweeps
		c.recent = append(c.recent, opened{k, c.sweeps})
	}
}

func (cv *conversation) seen(k bpf.FlowKey) *seenKey {
	for i := range cv.keys {
		if cv.keys[i].key == k {
			return &cv.keys[i]
		}
	}
	return nil
}

// close notes that key k's record ended, and says whether the
// conversation has no key open any more.
func (cv *conversation) close(k bpf.FlowKey) (allClosed bool) {
	if sk := cv.seen(k); sk != nil {
		sk.open = false
	}
	for _, sk := range cv.keys {
		if sk.open {
			return false
		}
	}
	return true
}

func (cv *conversation) direction(k bpf.FlowKey) classify.Direction {
	if pairable(k) == pairable(cv.initiator) {
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
		allClosed := cv.close(k)
		if rk, ok := r.RevKey(); ok {
			allClosed = cv.close(rk) // a biflow holds k and its reverse direction's own key
		}
		if allClosed {
			c.forget(ck, cv)
		}
	}
}

// forget drops a conversation, keeping its keys for TakeEnded when the
// datapath holds sampling state for them.
func (c *Classifier) forget(ck bpf.FlowKey, cv *conversation) {
	delete(c.convs, ck)
	c.finish(cv)
	if cv.sampled {
		for _, sk := range cv.keys {
			c.ended = append(c.ended, sk.key)
		}
	}
}

// Sweep closes the keys that samples opened but the table never held —
// their packets were not accounted (the kernel's flow slot was full), so
// no record will ever end them — and forgets the conversations left with
// no key open. inTable says whether the table holds packets of a key; it
// is called without the Classifier locked.
//
// Call it periodically, at least two harvests apart (the agent: every
// inactive timeout): a key is checked once, at the second sweep after a
// sample opened it, when the packet that sample came with was merged
// long since; a key found in the table is left to Label.
func (c *Classifier) Sweep(inTable func(bpf.FlowKey) bool) {
	c.mu.Lock()
	check := c.older
	c.older, c.recent, c.spare = c.recent, c.spare, nil
	c.sweeps++
	c.mu.Unlock()

	missing := check[:0]
	for _, o := range check {
		if !inTable(o.key) {
			missing = append(missing, o)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.spare = missing[:0] }() // a flood opens as many keys each period: reuse the array
	for _, o := range missing {
		ck := conversationKey(o.key)
		cv := c.convs[ck]
		if cv == nil {
			continue // ended meanwhile
		}
		// Opened again since (a new flow on the key): not this check's.
		if sk := cv.seen(o.key); sk == nil || !sk.open || sk.sweep != o.sweep {
			continue
		}
		if cv.close(o.key) {
			c.forget(ck, cv)
		}
	}
}

// TakeEnded returns the keys of the sampled conversations forgotten since
// the last call, every key seen of them, and forgets them: the live
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
