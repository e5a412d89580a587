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
	"time"

	"github.com/spanflow/spanflow/cache"
	"golang.org/x/sys/unix"
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

// The addresses looked up, shuffled: covered ones are random hosts of a
// random table prefix, the others random in the whole IPv4 space (most of
// it covered: a fifth of the prefixes are /16 to /19) and in the IPv6
// table's 2000::/12 (most of it not covered). A third are IPv6.
const (
	lookups   = 1 << 20
	inTableV4 = lookups * 45 / 100
	inTableV6 = lookups * 20 / 100
	randomV6  = lookups * 13 / 100
	randomV4  = lookups - inTableV4 - inTableV6 - randomV6
)

// benchFullTable writes the synthetic table once (distinct prefixes) and
// the addresses to look up.
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
		var v4, v6 []netip.Prefix
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
				if want.v6 {
					v6 = append(v6, p)
				} else {
					v4 = append(v4, p)
				}
			}
		}
		addrs := make([]netip.Addr, 0, lookups)
		for range inTableV4 {
			addrs = append(addrs, randomHost(r, v4[r.IntN(len(v4))]))
		}
		for range inTableV6 {
			addrs = append(addrs, randomHost(r, v6[r.IntN(len(v6))]))
		}
		for range randomV4 {
			addrs = append(addrs, randomHost(r, netip.MustParsePrefix("0.0.0.0/0")))
		}
		for range randomV6 {
			addrs = append(addrs, randomHost(r, netip.MustParsePrefix("2000::/12")))
		}
		r.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
		fullTable.addr = addrs
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

// randomHost is a random address of p.
func randomHost(r *rand.Rand, p netip.Prefix) netip.Addr {
	a := p.Addr().AsSlice()
	for i := range a {
		host := min(8, max(0, (i+1)*8-p.Bits())) // bits of byte i past the prefix
		a[i] |= byte(r.Uint32()) & byte(1<<host-1)
	}
	addr, _ := netip.AddrFromSlice(a)
	return addr
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
// full table. "random" probes the 1 M addresses (each lookup a walk
// through memory the CPU caches do not hold: the worst case),
// "working-set" 4096 of them over and over, as the addresses of a flow
// cache's busy hosts recur. Both look up a batch at a time and read the
// origin AS and mask, as Enrich does; "one-*" look up one address at a
// time and read the whole Route (Table.Lookup).
// lookups/s-cpu divides by the CPU time of the thread, which leaves out
// the time other processes took on a shared machine.
func BenchmarkLookup(b *testing.B) {
	t, addrs := benchLoaded(b)
	many := func(addrs []netip.Addr) (found int, sum uint32) {
		var leaves [batch]leaf
		t.lookupMany(addrs, leaves[:len(addrs)])
		for _, l := range leaves[:len(addrs)] {
			as, _ := t.as(l, false)
			if l != 0 {
				found++
			}
			sum += as
		}
		return found, sum
	}
	one := func(addrs []netip.Addr) (found int, sum uint32) {
		for _, a := range addrs {
			if rt, ok := t.Lookup(a); ok {
				found++
				sum += rt.Origin
			}
		}
		return found, sum
	}
	for _, c := range []struct {
		name   string
		n      int
		lookup func([]netip.Addr) (int, uint32)
	}{
		{"random", len(addrs), many},
		{"working-set", 4096, many},
		{"one-random", len(addrs), one},
		{"one-working-set", 4096, one},
	} {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			probe := addrs[:c.n]
			var found int
			var sum uint32
			cpu := threadCPU(b)
			for i := 0; i < b.N; {
				// c.n is a multiple of batch: a chunk never wraps.
				chunk := probe[i%c.n:][:min(batch, b.N-i)]
				f, s := c.lookup(chunk)
				found, sum, i = found+f, sum+s, i+len(chunk)
			}
			cpu = threadCPU(b) - cpu
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "lookups/s-cpu")
			if found == 0 || sum == 0 {
				b.Fatal("nothing found")
			}
		})
	}
}

// threadCPU is the CPU time of the calling thread (locked to it).
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// BenchmarkEnrich: records enriched per second on one core (two lookups
// each, through the Live table as the pipeline does it), with the origin
// AS (the default) and with the peer AS (--as peer: one more read, in the
// table of peer ASes, which a real RIB keeps small; the synthetic table
// has 65000).
func BenchmarkEnrich(b *testing.B) {
	t, addrs := benchLoaded(b)
	for _, peer := range []bool{false, true} {
		name := map[bool]string{false: "origin-as", true: "peer-as"}[peer]
		b.Run(name, func(b *testing.B) {
			l := &Live{peer: peer}
			l.cur.Store(t)
			recs := make([]cache.Record, 1024)
			for i := 0; i < b.N; i += len(recs) {
				some := recs[:min(len(recs), b.N-i)]
				for j := range some {
					some[j].SrcAddr, some[j].DstAddr = addrs[(i+j)&(len(addrs)-1)], addrs[(i+j+1)&(len(addrs)-1)]
				}
				l.Enrich(some)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}
