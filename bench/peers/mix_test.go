package peers

import (
	"bytes"
	"testing"

	"github.com/spanflow/spanflow/probe/probetest"
)

// TestTruthCountsEveryFlowOnce checks the ground truth's shortcut: that
// counting the packets marked First counts distinct 5-tuples, over ranges
// that cross where the address fields wrap (unit and flow 65,536).
func TestTruthCountsEveryFlowOnce(t *testing.T) {
	type key struct {
		v6           bool
		proto        uint8
		src, dst     uint32
		sport, dport uint16
	}
	ranges := map[Mix]uint64{Steady: 5000, Realistic: 66000 * 32, Short: 66000 * 5, Flood: 1 << 20}
	for m, end := range ranges {
		seen := map[key]bool{}
		truth := m.TruthOf(end)
		var packets uint64
		for seq := range end {
			p, info := m.Packet(seq)
			if !info.Send {
				continue
			}
			packets++
			k := key{p.V6, p.Proto, p.Src4, p.Dst4, p.Sport, p.Dport}
			if seen[k] == info.First {
				t.Fatalf("%v seq %d: first %v, but key seen before: %v", m, seq, info.First, seen[k])
			}
			seen[k] = true
		}
		if keys := m.KeysOf(end); uint64(len(keys)) != truth.Flows {
			t.Errorf("%v: %d keys, %d flows", m, len(keys), truth.Flows)
		}
		if truth.Flows != uint64(len(seen)) || truth.Packets != packets {
			t.Errorf("%v: truth %+v, counted %d packets, %d keys", m, truth, packets, len(seen))
		}
	}
}

// TestLiveGenMatchesModel runs xdp_livegen and tc_livegen once per
// sequence number, sending nothing, and compares what they write, return
// and count with the model.
func TestLiveGenMatchesModel(t *testing.T) {
	probetest.RequireRoot(t)
	gen, err := LoadLiveGen()
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	var seqs []uint64
	for s := range uint64(2600) {
		seqs = append(seqs, s)
	}
	for s := uint64(1<<32 - 300); s < 1<<32+300; s++ { // past 32-bit flow and unit numbers
		seqs = append(seqs, s)
	}
	for _, tc := range []bool{false, true} {
		send, skip := uint32(xdpTX), uint32(xdpDrop)
		if tc {
			send, skip = tcActOK, tcActShot
		}
		for m := Steady; m <= Flood; m++ {
			for _, seq := range seqs {
				if err := gen.Reset(m, seq, ^uint64(0)); err != nil {
					t.Fatal(err)
				}
				ret, frame, err := gen.RunOnce(tc)
				if err != nil {
					t.Fatal(err)
				}
				p, info := m.Packet(seq)
				switch {
				case !info.Send && ret != skip:
					t.Fatalf("tc %v, %v seq %d: returned %d, want %d (an empty slot)", tc, m, seq, ret, skip)
				case info.Send && ret != send:
					t.Fatalf("tc %v, %v seq %d: returned %d, want %d", tc, m, seq, ret, send)
				case info.Send && !bytes.Equal(frame, p.Frame()):
					t.Fatalf("tc %v, %v seq %d (%+v):\n got %x\nwant %x", tc, m, seq, p, frame, p.Frame())
				}
				st, err := gen.State()
				if err != nil {
					t.Fatal(err)
				}
				want := State{Mix: uint32(m), Next: seq + 1, Limit: ^uint64(0)}
				if info.Send {
					want.Sent, want.IpBytes = 1, uint64(p.IPLen)
				}
				if st != want {
					t.Fatalf("tc %v, %v seq %d: state %+v, want %+v", tc, m, seq, st, want)
				}
			}
		}
	}
}
