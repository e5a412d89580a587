package prefixes

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/spanflow/spanflow/cache"
)

// A full table, synthetic: about what a default-free BGP router holds
// (1 M IPv4 and 200 k IPv6 prefixes), with the length mix of real tables
// (IPv4 mostly /24, IPv6 mostly /48) and 32-bit origin ASes.
const (
	fullV4 = 1_000_000
	fullV6 = 200_000
)

var fullTable struct {
	once sync.Once
	path string // the plain-text table file
	addr []netip.Addr
	err  error

	loadOnce sync.Once
	table    *Table
}

// benchLoaded is the full table, loaded once for the lookup benchmarks.
func benchLoaded(b *testing.B) (*Table, []netip.Addr) {
	path, addrs := benchFullTable(b)
	fullTable.loadOnce.Do(func() { fullTable.table, fullTable.err = Load(Source{Path: path}) })
	if fullTable.err != nil {
		b.Fatal(fullTable.err)
	}
	return fullTable.table, addrs
}

func randomPrefix(r *rand.Rand, v6 bool) netip.Prefix {
	if v6 {
		bits := []int{48, 48, 48, 48, 48, 44, 40, 36, 32, 29}[r.IntN(10)]
		var a [16]byte
		a[0], a[1] = 0x20, byte(r.IntN(16)) // 2000::/12, where the routes are
		for i := 2; i < 8; i++ {
			a[i] = byte(r.Uint32())
		}
		return netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked()
	}
	bits := []int{24, 24, 24, 24, 24, 24, 23, 22, 22, 21, 20, 19, 18, 16, 16}[r.IntN(15)]
	n := r.Uint32()
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), bits).Masked()
}

// benchFullTable writes the synthetic table once (distinct prefixes) and
// a set of addresses to look up: half inside a table prefix, half random.
func benchFullTable(b *testing.B) (string, []netip.Addr) {
	fullTable.once.Do(func() {
		dir, err := os.MkdirTemp("", "spanflow-prefix-bench-")
		if err != nil {
			fullTable.err = err
			return
		}
		fullTable.path = filepath.Join(dir, "full.txt")
		f, err := os.Create(fullTable.path)
		if err != nil {
			fullTable.err = err
			return
		}
		w := bufio.NewWriter(f)
		r := rand.New(rand.NewPCG(7, 8))
		seen := map[netip.Prefix]bool{}
		for _, want := range []struct {
			n  int
			v6 bool
		}{{fullV4, false}, {fullV6, true}} {
			for n := 0; n < want.n; {
				p := randomPrefix(r, want.v6)
				if seen[p] {
					continue
				}
				seen[p] = true
				n++
				fmt.Fprintf(w, "%s %d %d\n", p, 1+r.Uint32N(4_200_000_000), 1+r.Uint32N(65000))
				if len(fullTable.addr) < 1<<20 && n%2 == 0 {
					fullTable.addr = append(fullTable.addr, p.Addr().Next())
				}
			}
		}
		for len(fullTable.addr) < 1<<20 {
			n := r.Uint32()
			fullTable.addr = append(fullTable.addr, netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}))
		}
		r.Shuffle(len(fullTable.addr), func(i, j int) { fullTable.addr[i], fullTable.addr[j] = fullTable.addr[j], fullTable.addr[i] })
		if err := w.Flush(); err != nil {
			fullTable.err = err
		}
		f.Close()
	})
	if fullTable.err != nil {
		b.Fatal(fullTable.err)
	}
	return fullTable.path, fullTable.addr
}

// BenchmarkFullTableLoad: seconds to read and index a full table from a
// plain-text file.
func BenchmarkFullTableLoad(b *testing.B) {
	path, _ := benchFullTable(b)
	b.ResetTimer()
	for range b.N {
		t, err := Load(Source{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		if t.Len4() != fullV4 || t.Len6() != fullV6 {
			b.Fatalf("%s", t)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	b.ReportMetric(float64((fullV4+fullV6)*b.N)/b.Elapsed().Seconds(), "prefixes/s")
}

// BenchmarkFullTableMemory: Go heap a loaded full table holds.
func BenchmarkFullTableMemory(b *testing.B) {
	path, _ := benchFullTable(b)
	var held float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t, err := Load(Source{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held = float64(after.HeapAlloc) - float64(before.HeapAlloc)
		runtime.KeepAlive(t)
	}
	b.ReportMetric(held/(1<<20), "MiB")
	b.ReportMetric(held/(fullV4+fullV6), "bytes/prefix")
}

// BenchmarkLookup: longest-prefix matches per second on one core, in the
// full table: "random" probes 1 M addresses spread over the whole table
// (each lookup a walk through memory the CPU caches do not hold: the
// worst case), "working-set" 4096 addresses over and over, as the
// addresses of a flow cache's busy hosts recur.
func BenchmarkLookup(b *testing.B) {
	t, addrs := benchLoaded(b)
	for _, c := range []struct {
		name string
		n    int
	}{{"random", len(addrs)}, {"working-set", 4096}} {
		b.Run(c.name, func(b *testing.B) {
			probe, mask := addrs[:c.n], c.n-1
			var found int
			for i := range b.N {
				if _, ok := t.Lookup(probe[i&mask]); ok {
					found++
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			if found == 0 {
				b.Fatal("nothing found")
			}
		})
	}
}

// BenchmarkEnrich: records enriched per second on one core (two lookups
// each, through the Live table as the pipeline does it).
func BenchmarkEnrich(b *testing.B) {
	t, addrs := benchLoaded(b)
	l := &Live{}
	l.cur.Store(t)
	recs := make([]cache.Record, 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i += len(recs) {
		batch := recs[:min(len(recs), b.N-i)]
		for j := range batch {
			batch[j].SrcAddr, batch[j].DstAddr = addrs[(i+j)&(len(addrs)-1)], addrs[(i+j+1)&(len(addrs)-1)]
		}
		l.Enrich(batch)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
