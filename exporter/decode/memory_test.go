package decode

import (
	"net/netip"
	"runtime"
	"testing"
)

// flowTemplates is an IPFIX message of domain 1 defining templates
// first..last, each of n fields.
func flowTemplates(first, last uint16, n int) []byte {
	var body []byte
	for id := first; id <= last; id++ {
		fields := make([]field, n)
		for i := range fields {
			fields[i] = field{2, 4, 0} // packetDeltaCount
		}
		body = append(body, ipfixTemplate(id, 0, fields...)...)
	}
	return ipfixMsg(1, 0, set(2, body))
}

// hasTemplate reports whether a data set of template id from from decodes.
func hasTemplate(t *testing.T, d *Decoder, from netip.AddrPort, id uint16, n int) bool {
	t.Helper()
	rec := make([]byte, 4*n)
	m := decodeOK(t, d, from, ipfixMsg(1, 0, set(id, rec)))
	return len(m.Records) == 1
}

// One exporter sending more templates than its budget forgets its own
// least recently used ones, not another exporter's; a template bigger
// than the budget is refused and counted. Budgets are worked out from the
// cost constants, not from the Decoder.
func TestDecoderBoundsMemoryPerExporterLeastRecentlyUsedFirst(t *testing.T) {
	const n = 8 // fields per template
	per := templateCost + n*fieldCost
	// Room for the exporter, its stream and 10 templates, not 11.
	limits := Limits{ExporterBytes: exporterCost + streamCost + 10*per + per/2, TotalBytes: 1 << 20}
	d := NewDecoderWithLimits(limits)

	decodeOK(t, d, exporterB, flowTemplates(256, 257, n))
	decodeOK(t, d, exporterA, flowTemplates(256, 265, n)) // exactly full
	if !hasTemplate(t, d, exporterA, 256, n) {            // 256 now the most recently used
		t.Fatal("template 256 missing before the budget was reached")
	}
	decodeOK(t, d, exporterA, flowTemplates(266, 270, n)) // evicts 5: 257..261
	for id := uint16(256); id <= 270; id++ {
		want := id == 256 || id >= 262
		if got := hasTemplate(t, d, exporterA, id, n); got != want {
			t.Errorf("exporter A template %d held: %v, want %v", id, got, want)
		}
	}
	for id := uint16(256); id <= 257; id++ {
		if !hasTemplate(t, d, exporterB, id, n) {
			t.Errorf("exporter B lost template %d to exporter A", id)
		}
	}

	huge := (limits.ExporterBytes)/fieldCost + 1
	decodeOK(t, d, exporterA, flowTemplates(300, 300, huge))
	if hasTemplate(t, d, exporterA, 300, huge) {
		t.Error("template larger than an exporter's budget was kept")
	}
	st := d.Stats()
	if st.TemplatesEvicted != 5 || st.TemplatesFull != 1 {
		t.Errorf("evicted %d, full %d; want 5, 1", st.TemplatesEvicted, st.TemplatesFull)
	}
	if bytes, exporters := d.Memory(); exporters != 2 || bytes > 2*limits.ExporterBytes {
		t.Errorf("memory %d bytes for %d exporters; want at most %d for 2", bytes, exporters, 2*limits.ExporterBytes)
	}
}

// Senders spoofing many addresses share TotalBytes: the least recently
// heard exporter's state goes first, the heap stays within the bound, and
// the estimate is not far below what the runtime counts.
func TestMemoryBoundsHoldOnTheHeap(t *testing.T) {
	const total = 8 << 20
	d := NewDecoderWithLimits(Limits{ExporterBytes: 1 << 20, TotalBytes: total})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	names := be(nil)
	for i := range 200 {
		names = names.u32(uint32(i)).raw(varField([]byte("GigabitEthernet0/0/0/0.1000 uplink to the core")))
	}
	for i := range 2000 {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 4739)
		decodeOK(t, d, from, flowTemplates(256, 260, 100))
		decodeOK(t, d, from, ipfixMsg(1, 0,
			set(3, ipfixTemplate(300, 1, field{10, 4, 0}, field{82, 65535, 0})), set(300, names)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	bytes, exporters := d.Memory()
	t.Logf("estimate %d bytes for %d exporters, heap grew %d bytes", bytes, exporters, heap)
	if bytes > total {
		t.Errorf("estimate %d bytes, over the bound %d", bytes, total)
	}
	if heap > total*3/2 {
		t.Errorf("heap grew %d bytes, over 1.5 × the bound %d", heap, total)
	}
	if exporters >= 2000 || d.Stats().StreamsEvicted == 0 {
		t.Errorf("%d exporters held, %d streams evicted: nothing was evicted", exporters, d.Stats().StreamsEvicted)
	}
	last := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 7, 207}), 4739) // i = 1999
	if !hasTemplate(t, d, last, 256, 100) || len(d.Exporter(last, 10, 1).Interfaces) != 200 {
		t.Error("the most recently heard exporter lost its state")
	}
	runtime.KeepAlive(d)
}
