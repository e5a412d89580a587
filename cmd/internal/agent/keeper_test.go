package agent

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
)

// errCrash set as a fake's failure kills spanflow at that step: the fake
// panics with it, nothing after the step runs, and the test throws the
// keeper and its table away and starts a new pair, which restores from
// what the fakes kept (the pinned maps outlive the process).
var errCrash = errors.New("crash")

// failure returns what a fake's step fails with, dying at a crash.
func failure(fail map[string]error, step string) error {
	err := fail[step]
	if errors.Is(err, errCrash) {
		panic(err)
	}
	return err
}

// fakeSlots is the kernel's two flow slots: packets arrive into the
// active one; Flip, ReadSlot and ClearSlot behave as probe.Probe's.
type fakeSlots struct {
	active int
	slot   [2]map[bpf.FlowKey]cache.Delta
	read   [2][]bpf.FlowKey
	fail   map[string]error // step name → error returned there
}

func newFakeSlots() *fakeSlots {
	return &fakeSlots{slot: [2]map[bpf.FlowKey]cache.Delta{{}, {}}, fail: map[string]error{}}
}

func (s *fakeSlots) packet(key bpf.FlowKey, ns uint64) {
	d := s.slot[s.active][key]
	if d.Packets == 0 {
		d.FirstNs = ns
	}
	d.Key, d.Packets, d.Bytes, d.LastNs = key, d.Packets+1, d.Bytes+100, ns
	s.slot[s.active][key] = d
}

func (s *fakeSlots) ActiveSlotIndex() int { return s.active }

func (s *fakeSlots) Flip() (int, error) {
	if err := failure(s.fail, "flip"); err != nil {
		return s.active, err
	}
	old := s.active
	s.active = 1 - old
	return old, nil
}

func (s *fakeSlots) ReadSlot(i int, dst []cache.Delta) ([]cache.Delta, error) {
	if err := failure(s.fail, "read"); err != nil {
		return dst, err
	}
	s.read[i] = s.read[i][:0]
	for k, d := range s.slot[i] {
		dst = append(dst, d)
		s.read[i] = append(s.read[i], k)
	}
	return dst, nil
}

func (s *fakeSlots) ClearSlot(i int) error {
	if err := failure(s.fail, "clear"); err != nil {
		return err
	}
	for _, k := range s.read[i] {
		delete(s.slot[i], k)
	}
	return nil
}

// fakeLedger is the pinned ledger: entries and epochs survive a crash;
// Put queues in memory, as the real one does, and is lost with it.
type fakeLedger struct {
	entries   map[bpf.FlowKey]probe.LedgerValue
	nextEpoch uint32
	slotEpoch [2]uint32
	queued    map[bpf.FlowKey]probe.LedgerValue
	fail      map[string]error
	writes    int
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{entries: map[bpf.FlowKey]probe.LedgerValue{}, nextEpoch: 1, fail: map[string]error{}}
}

func (l *fakeLedger) Load() (map[bpf.FlowKey]probe.LedgerValue, error) {
	return maps.Clone(l.entries), nil
}

func (l *fakeLedger) BeginDrain(slot int) (uint32, error) {
	if err := failure(l.fail, "begin"); err != nil {
		return 0, err
	}
	e := l.nextEpoch
	l.slotEpoch[slot], l.nextEpoch = e, e+1
	return e, nil
}

func (l *fakeLedger) SlotEpoch(slot int) (uint32, error) { return l.slotEpoch[slot], nil }

func (l *fakeLedger) Put(k bpf.FlowKey, v probe.LedgerValue) {
	if l.queued == nil {
		l.queued = map[bpf.FlowKey]probe.LedgerValue{}
	}
	l.queued[k] = v
}

func (l *fakeLedger) Write() error {
	l.writes++
	if err := failure(l.fail, "write"); err != nil {
		l.queued = nil
		return err
	}
	maps.Copy(l.entries, l.queued)
	l.queued = nil
	return nil
}

func (l *fakeLedger) Delete(keys []bpf.FlowKey) error {
	if err := failure(l.fail, "delete"); err != nil {
		return err
	}
	for _, k := range keys {
		delete(l.entries, k)
	}
	return nil
}

// wallClock stores source times as they are: the fakes' clock is the
// wall clock.
type wallClock struct{}

func (wallClock) SourceNs(wallNs int64) uint64 { return uint64(wallNs) }

// rig is one run of spanflow over fakes that outlive it.
type rig struct {
	t      *testing.T
	slots  *fakeSlots
	ledger *fakeLedger
	clock  *cache.CaptureClock
	table  *cache.Table
	keep   *keeper
	// exported sums packets per key of every record sent.
	exported map[bpf.FlowKey]uint64
}

var rigStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newRig(t *testing.T) *rig {
	r := &rig{t: t, slots: newFakeSlots(), ledger: newFakeLedger(), exported: map[bpf.FlowKey]uint64{}}
	r.start()
	return r
}

// start is spanflow starting: a new table restored from the fakes.
func (r *rig) start() {
	r.t.Helper()
	now := rigStart
	if r.clock != nil {
		now = r.clock.Now()
	}
	r.clock = cache.NewCaptureClock(now)
	var err error
	r.table, err = cache.NewTable(cache.Config{InactiveTimeout: 15 * time.Second, ActiveTimeout: 30 * time.Minute,
		FINGrace: time.Second, MaxFlows: 1 << 16}, r.clock)
	if err != nil {
		r.t.Fatal(err)
	}
	r.keep = newKeeper(r.ledger, r.slots, r.table, wallClock{}, 1<<10)
	if _, _, err := r.keep.restore(nil); err != nil {
		r.t.Fatalf("restore: %v", err)
	}
}

// traffic sends n packets over a few keys at the current time.
func (r *rig) traffic(rng *rand.Rand, n int) {
	for range n {
		k := bpf.FlowKey{IpVersion: 4, Proto: 17, SrcPort: uint16(rng.IntN(8)), DstPort: 53}
		k.SrcAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 1}
		k.DstAddr = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 15: 2}
		r.slots.packet(k, uint64(r.clock.Now().UnixNano()))
	}
}

// cycle is one turn of the live loop: harvest, expire, export (out is
// what the streams said of the send).
func (r *rig) cycle(advance time.Duration, out outcome) error {
	r.clock.Advance(r.clock.Now().Add(advance))
	if _, err := r.keep.harvest(nil); err != nil {
		return err
	}
	recs := r.table.Expire(nil)
	r.send(recs)
	return r.keep.exported(recs, out)
}

// crashingCycle is cycle with sends confirmed, returning errCrash when a
// fake killed it.
func (r *rig) crashingCycle(advance time.Duration) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok && errors.Is(e, errCrash) {
				err = e
				return
			}
			panic(p)
		}
	}()
	return r.cycle(advance, delivered)
}

func (r *rig) send(recs []cache.Record) {
	for i := range recs {
		r.exported[recs[i].Key()] += recs[i].Packets
	}
}

// shutdown drains everything and sends it, as SIGTERM does.
func (r *rig) shutdown() {
	r.t.Helper()
	clear(r.slots.fail)
	clear(r.ledger.fail)
	if _, err := r.keep.harvest(nil); err != nil {
		r.t.Fatal(err)
	}
	recs := r.table.Flush(nil)
	r.send(recs)
	if err := r.keep.exported(recs, delivered); err != nil {
		r.t.Fatal(err)
	}
}

func total(m map[bpf.FlowKey]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

// TestKeeperLosesNothingWhenKilledAtAnyStep kills spanflow at each step of
// a harvest and of an export, restarts it, and checks every packet is
// exported exactly once: the ledger and the slots carry the counts across.
func TestKeeperLosesNothingWhenKilledAtAnyStep(t *testing.T) {
	steps := []struct {
		where string
		fakes func(r *rig) map[string]error
	}{
		{"begin", func(r *rig) map[string]error { return r.ledger.fail }},
		{"flip", func(r *rig) map[string]error { return r.slots.fail }},
		{"read", func(r *rig) map[string]error { return r.slots.fail }},
		{"write", func(r *rig) map[string]error { return r.ledger.fail }},
		{"clear", func(r *rig) map[string]error { return r.slots.fail }},
		{"delete", func(r *rig) map[string]error { return r.ledger.fail }},
	}
	for _, step := range steps {
		t.Run(step.where, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			r := newRig(t)
			sent := uint64(0)
			for round := range 40 {
				n := 1 + rng.IntN(50)
				r.traffic(rng, n)
				sent += uint64(n)
				crash := round%5 == 4
				if crash {
					step.fakes(r)[step.where] = errCrash
				}
				err := r.crashingCycle(4 * time.Second)
				if crash {
					if !errors.Is(err, errCrash) {
						t.Fatalf("round %d: the cycle went past the crash at %s: %v", round, step.where, err)
					}
					clear(step.fakes(r))
					r.ledger.queued = nil // the dead process's queue
					r.start()
				} else if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			r.shutdown()
			// A kill after the send and before the ledger forgets (delete)
			// exports that batch again: the one documented window.
			if got := total(r.exported); step.where == "delete" {
				if got < sent {
					t.Fatalf("exported %d packets, sent %d: counts lost", got, sent)
				}
			} else if got != sent {
				t.Fatalf("exported %d packets, sent %d", got, sent)
			}
			if len(r.ledger.entries) != 0 {
				t.Fatalf("ledger keeps %d entries after everything was exported", len(r.ledger.entries))
			}
		})
	}
}

// TestKeeperClearsTheSlotWhenTheLedgerWriteFails: the table has the counts,
// so the slot must go, or the next drain counts its packets twice.
func TestKeeperClearsTheSlotWhenTheLedgerWriteFails(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := newRig(t)
	var sent uint64
	for round := range 10 {
		r.traffic(rng, 20)
		sent += 20
		if round == 3 {
			r.ledger.fail["write"] = errors.New("no space")
		}
		err := r.cycle(time.Second, delivered)
		if round == 3 && err == nil {
			t.Fatal("a failed ledger write went unreported")
		}
		delete(r.ledger.fail, "write")
		if n := len(r.slots.slot[1-r.slots.active]); n != 0 {
			t.Fatalf("round %d: idle slot keeps %d flows", round, n)
		}
	}
	r.shutdown()
	if got := total(r.exported); got != sent {
		t.Fatalf("exported %d packets, sent %d", got, sent)
	}
}

// TestKeeperKeepsUnconfirmedRecordsUntilASyncSucceeds: when the streams
// did not confirm a send in time (a collector stuck, the queue full), the
// ledger keeps the records, so a crash then exports them again instead
// of never; a later confirmed send lets it forget them.
func TestKeeperKeepsUnconfirmedRecordsUntilASyncSucceeds(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := newRig(t)
	r.traffic(rng, 30)
	// Long enough for every flow to go idle and expire in this cycle.
	if err := r.cycle(20*time.Second, unsettled); err != nil {
		t.Fatal(err)
	}
	if total(r.exported) != 30 {
		t.Fatalf("expired %d packets, want 30", total(r.exported))
	}
	if len(r.ledger.entries) == 0 {
		t.Fatal("unconfirmed records left the ledger")
	}
	// Killed now: the restart finds them and exports them again.
	r.start()
	r.shutdown()
	if got := total(r.exported); got != 60 {
		t.Fatalf("exported %d packets; want the 30 twice (never lost)", got)
	}

	// The same without a crash: the next confirmed send forgets them.
	r = newRig(t)
	r.traffic(rng, 30)
	if err := r.cycle(20*time.Second, unsettled); err != nil {
		t.Fatal(err)
	}
	if err := r.cycle(time.Second, delivered); err != nil {
		t.Fatal(err)
	}
	if len(r.ledger.entries) != 0 {
		t.Fatalf("ledger keeps %d entries after a confirmed send", len(r.ledger.entries))
	}
}

// TestKeeperBoundsUnconfirmedRecords: a collector that never confirms
// cannot grow the list without bound; what is forgotten unsent is counted.
func TestKeeperBoundsUnconfirmedRecords(t *testing.T) {
	r := newRig(t)
	r.keep.maxHeld = 10
	for round := range 5 {
		for i := range 8 {
			k := bpf.FlowKey{IpVersion: 4, Proto: 6, SrcPort: uint16(round*8 + i), DstPort: 80}
			r.slots.packet(k, uint64(r.clock.Now().UnixNano()))
		}
		if err := r.cycle(20*time.Second, unsettled); err != nil {
			t.Fatal(err)
		}
		if n := len(r.keep.held); n > 10 {
			t.Fatalf("round %d: %d unconfirmed directions held, bound 10", round, n)
		}
	}
	if r.keep.forgotUnsent.Load() == 0 {
		t.Fatal("keys forgotten unsent were not counted")
	}
}

// TestKeeperReportsEachFailingStep: every failure surfaces as an error
// naming its cause, for the loop to log and count.
func TestKeeperReportsEachFailingStep(t *testing.T) {
	for _, where := range []string{"begin", "flip", "read", "clear"} {
		r := newRig(t)
		boom := fmt.Errorf("%s failed", where)
		if where == "begin" {
			r.ledger.fail[where] = boom
		} else {
			r.slots.fail[where] = boom
		}
		if _, err := r.keep.harvest(nil); !errors.Is(err, boom) {
			t.Errorf("%s: harvest returned %v", where, err)
		}
	}
}

// TestKeeperKeepsLostRecordsForTheNextStart: records a stream lost (its
// queue full, a send failed) stay in the ledger — a later delivered batch
// confirms only itself — and the same directions carrying on keep the
// lost counts beside their new ones, so a restart exports them.
func TestKeeperKeepsLostRecordsForTheNextStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	r := newRig(t)
	r.traffic(rng, 30)
	r.clock.Advance(r.clock.Now().Add(20 * time.Second))
	if _, err := r.keep.harvest(nil); err != nil {
		t.Fatal(err)
	}
	recs := r.table.Expire(nil) // handed to the streams, which lose them: not r.send
	if err := r.keep.exported(recs, lost); err != nil {
		t.Fatal(err)
	}
	r.traffic(rng, 20) // the same keys again
	if err := r.cycle(time.Second, delivered); err != nil {
		t.Fatal(err)
	}
	if r.keep.lostRecords.Load() == 0 {
		t.Error("lost records were not counted")
	}
	if len(r.ledger.entries) == 0 {
		t.Fatal("lost records left the ledger when a later batch was delivered")
	}
	r.start()
	r.shutdown()
	if got := total(r.exported); got != 50 {
		t.Fatalf("exported %d packets; want 50: the 30 lost ones at the restart and the 20 after", got)
	}
	if len(r.ledger.entries) != 0 {
		t.Fatalf("ledger keeps %d entries after everything was delivered", len(r.ledger.entries))
	}
}

// TestKeeperSettlesUnsettledRecordsAtTheNextSync: a sync that timed out
// leaves its records in the ledger; the next completed sync settles them
// either way.
func TestKeeperSettlesUnsettledRecordsAtTheNextSync(t *testing.T) {
	for _, later := range []outcome{delivered, lost} {
		rng := rand.New(rand.NewPCG(9, 10))
		r := newRig(t)
		r.traffic(rng, 30)
		if err := r.cycle(20*time.Second, unsettled); err != nil {
			t.Fatal(err)
		}
		if len(r.keep.handed) == 0 || len(r.ledger.entries) == 0 {
			t.Fatalf("unsettled records left: handed %d, ledger %d", len(r.keep.handed), len(r.ledger.entries))
		}
		if err := r.cycle(time.Second, later); err != nil {
			t.Fatal(err)
		}
		if len(r.keep.handed) != 0 {
			t.Errorf("%v: %d records still unsettled after a completed sync", later, len(r.keep.handed))
		}
		if kept := len(r.ledger.entries) > 0; kept != (later == lost) {
			t.Errorf("later sync %v: ledger keeps %d entries", later, len(r.ledger.entries))
		}
	}
}

// TestKeeperDropsEmptyEntries: a ledger entry of 0 packets (left by an
// earlier version, or a write torn by a crash) makes no Delta, so no
// record ever took it out of the ledger: the restore drops it.
func TestKeeperDropsEmptyEntries(t *testing.T) {
	r := newRig(t)
	k := bpf.FlowKey{IpVersion: 4, Proto: 17, SrcPort: 1, DstPort: 53}
	r.ledger.entries[k] = probe.LedgerValue{Epoch: 1}
	r.start()
	r.shutdown()
	if len(r.ledger.entries) != 0 {
		t.Errorf("ledger keeps %d entries after a restart and a shutdown: %+v", len(r.ledger.entries), r.ledger.entries)
	}
}
