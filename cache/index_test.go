package cache

import (
	"math/rand/v2"
	"testing"

	"github.com/spanflow/spanflow/bpf"
)

// TestIndexAgreesWithAMap runs random inserts and removals on a small
// index (so probe runs collide and wrap around the array's end) and
// checks every key against a Go map after each step.
func TestIndexAgreesWithAMap(t *testing.T) {
	for _, bidir := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(7, 7))
		s := &slab{bidir: bidir}
		x := newIndex()
		ref := map[bpf.FlowKey]int32{}
		keys := benchDeltas(200, 0)
		for step := range 20000 {
			k := keys[rng.IntN(len(keys))].Key
			if i, ok := ref[k]; ok && rng.IntN(2) == 0 {
				_, at, found := x.find(&k, s)
				if !found {
					t.Fatalf("step %d: key of entry %d not found before removal", step, i)
				}
				x.removeAt(at)
				s.release(i)
				delete(ref, k)
			} else if !ok {
				i := s.alloc()
				s.flow(i).key = k
				x.insert(&k, i)
				ref[k] = i
			}
			if x.n != len(ref) {
				t.Fatalf("step %d: index holds %d, want %d", step, x.n, len(ref))
			}
			if step%97 == 0 {
				for _, d := range keys {
					want, wantOK := ref[d.Key]
					got, _, gotOK := x.find(&d.Key, s)
					if gotOK != wantOK || gotOK && got != want {
						t.Fatalf("step %d: find = %d, %v; want %d, %v", step, got, gotOK, want, wantOK)
					}
				}
			}
		}
		if len(x.slots) > 512 {
			t.Errorf("index grew to %d slots for at most 200 keys", len(x.slots))
		}
	}
}

// TestIndexProbesStayShort guards against a bad hash: at a million keys
// and at most 3/4 load, linear probing should average a few slots.
func TestIndexProbesStayShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a million-key index")
	}
	s := &slab{}
	x := newIndex()
	ds := benchDeltas(1<<20, 0)
	for _, d := range ds {
		i := s.alloc()
		s.flow(i).key = d.Key
		x.insert(&d.Key, i)
	}
	var probes int
	mask := len(x.slots) - 1
	for at, sl := range x.slots {
		if sl.ref != 0 {
			probes += (at-int(sl.hash)&mask)&mask + 1
		}
	}
	if mean := float64(probes) / float64(x.n); mean > 3 {
		t.Errorf("mean probe length %.2f slots, want ≤ 3", mean)
	}
}
