package probe

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/probe/probetest"
)

func ledgerDir(t *testing.T) string {
	t.Helper()
	probetest.RequireRoot(t)
	dir := testPinDir(t)
	if err := prepareFS(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ledgerKey(port uint16) bpf.FlowKey {
	var k bpf.FlowKey
	k.SrcPort, k.Proto, k.IpVersion = port, 17, 4
	return k
}

func openTestLedger(t *testing.T, dir string, cells uint32, replace bool) *Ledger {
	t.Helper()
	l, err := OpenLedger(dir, cells, replace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func loadLedger(t *testing.T, l *Ledger) map[bpf.FlowKey]LedgerValue {
	t.Helper()
	got, err := l.Load()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestLedgerEntriesLiveInThePinnedMap: what one Ledger puts, another one
// opened on the same pin reads without the first closing or writing
// anything more — the entries are in the kernel's map, not in the memory
// of the process that wrote them.
func TestLedgerEntriesLiveInThePinnedMap(t *testing.T) {
	dir := ledgerDir(t)
	w := openTestLedger(t, dir, 64, false)
	w.Put(ledgerKey(1), LedgerValue{Packets: 3, Epoch: 1})
	w.Put(ledgerKey(2), LedgerValue{Packets: 5, Epoch: 1})
	w.Put(ledgerKey(1), LedgerValue{Packets: 4, Epoch: 2}) // replaces the first
	w.Delete([]bpf.FlowKey{ledgerKey(2), ledgerKey(9)})

	r := openTestLedger(t, dir, 64, false)
	got := loadLedger(t, r)
	if len(got) != 1 || got[ledgerKey(1)] != (LedgerValue{Packets: 4, Epoch: 2}) {
		t.Fatalf("second opener reads %v, want only port 1 with 4 packets, epoch 2", got)
	}
	if w.Len() != 1 || r.Len() != 1 {
		t.Errorf("Len: writer %d, reader %d, want 1", w.Len(), r.Len())
	}
}

// TestLedgerKeepsTheNewerOfTwoCopies: a process killed between publishing
// an entry's new copy and freeing the old one leaves both; a copy killed
// before its version was written is not there at all.
func TestLedgerKeepsTheNewerOfTwoCopies(t *testing.T) {
	dir := ledgerDir(t)
	l := openTestLedger(t, dir, 8, false)
	cells := l.cells
	put := func(i uint32, c ledgerCell) {
		if err := cells.Put(i, &c); err != nil {
			t.Fatal(err)
		}
	}
	put(0, ledgerCell{Key: ledgerKey(1), Value: LedgerValue{Packets: 1}, Version: 7})
	put(5, ledgerCell{Key: ledgerKey(1), Value: LedgerValue{Packets: 2}, Version: 9}) // the newer copy
	put(3, ledgerCell{Key: ledgerKey(2), Value: LedgerValue{Packets: 8}})             // torn: never published
	l.Close()

	l = openTestLedger(t, dir, 8, false)
	got := loadLedger(t, l)
	if len(got) != 1 || got[ledgerKey(1)].Packets != 2 {
		t.Fatalf("after the crash the ledger holds %v, want port 1 with 2 packets only", got)
	}
	var c ledgerCell
	if err := l.cells.Lookup(uint32(0), &c); err != nil || c.Version != 0 {
		t.Errorf("older copy not freed: %+v, %v", c, err)
	}
	// The freed cells are usable again: 7 free cells take 7 more keys.
	for p := range uint16(7) {
		l.Put(ledgerKey(100+p), LedgerValue{Packets: 1})
	}
	if err := l.Write(); err != nil {
		t.Fatalf("filling the freed cells: %v", err)
	}
	if l.Len() != 8 {
		t.Errorf("Len = %d, want 8", l.Len())
	}
}

// TestFullLedgerSaysSoAndKeepsWhatItHolds: a Put with no free cell
// stores nothing and the next Write reports it; a later Write after a
// Delete made room succeeds.
func TestFullLedgerSaysSoAndKeepsWhatItHolds(t *testing.T) {
	dir := ledgerDir(t)
	l := openTestLedger(t, dir, 2, false)
	l.Put(ledgerKey(1), LedgerValue{Packets: 1})
	l.Put(ledgerKey(2), LedgerValue{Packets: 2})
	l.Put(ledgerKey(3), LedgerValue{Packets: 3})
	if err := l.Write(); err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Write after a Put into a full ledger: %v", err)
	}
	got := loadLedger(t, l)
	if len(got) != 2 || got[ledgerKey(1)].Packets != 1 || got[ledgerKey(2)].Packets != 2 {
		t.Fatalf("full ledger holds %v", got)
	}
	l.Delete([]bpf.FlowKey{ledgerKey(1)})
	l.Put(ledgerKey(3), LedgerValue{Packets: 3})
	if err := l.Write(); err != nil {
		t.Fatal(err)
	}
}

// TestLedgerOfAnotherSizeIsResized: a restart with another --max-flows
// carries the entries over when they fit, refuses when they do not
// (unless replaced, which discards them).
func TestLedgerOfAnotherSizeIsResized(t *testing.T) {
	dir := ledgerDir(t)
	l, err := OpenLedger(dir, 4, false)
	if err != nil {
		t.Fatal(err)
	}
	for p := range uint16(3) {
		l.Put(ledgerKey(p), LedgerValue{Packets: uint64(p) + 1})
	}
	l.Close()

	if l, err = OpenLedger(dir, 16, false); err != nil {
		t.Fatalf("grow: %v", err)
	}
	got := loadLedger(t, l)
	if len(got) != 3 || got[ledgerKey(2)].Packets != 3 || l.cells.MaxEntries() != 16 {
		t.Fatalf("grown ledger (%d cells) holds %v", l.cells.MaxEntries(), got)
	}
	l.Close()

	if _, err = OpenLedger(dir, 2, false); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("shrink below what it holds: err = %v", err)
	}
	l = openTestLedger(t, dir, 2, true)
	if got := loadLedger(t, l); len(got) != 0 {
		t.Fatalf("replaced ledger holds %v", got)
	}
}

// TestLedgerOfTheEarlierLayoutIsCarriedOver: the ledger of earlier
// releases (a hash from flow key to counts) is read into the new one.
func TestLedgerOfTheEarlierLayoutIsCarriedOver(t *testing.T) {
	dir := ledgerDir(t)
	old, err := ebpf.NewMapWithOptions(&ebpf.MapSpec{
		Name: ledgerMap, Type: ebpf.Hash, KeySize: uint32(unsafe.Sizeof(bpf.FlowKey{})),
		ValueSize: uint32(unsafe.Sizeof(LedgerValue{})), MaxEntries: 128,
		Flags: unix.BPF_F_NO_PREALLOC, Pinning: ebpf.PinByName,
	}, ebpf.MapOptions{PinPath: dir})
	if err != nil {
		t.Fatal(err)
	}
	k := ledgerKey(53)
	if err := old.Put(&k, &LedgerValue{Packets: 42, Epoch: 6}); err != nil {
		t.Fatal(err)
	}
	old.Close()

	l := openTestLedger(t, dir, 64, false)
	if got := loadLedger(t, l); len(got) != 1 || got[k] != (LedgerValue{Packets: 42, Epoch: 6}) {
		t.Fatalf("carried over %v", got)
	}
}
