package decode

import (
	"encoding/json"
	"net/netip"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzDecoderStaysWithinBounds feeds datagrams from a few exporters to a
// Decoder with small Limits: it must not panic, its memory account must
// add up and stay within the bounds, every time it returns must encode as
// JSON and every name must be printable.
func FuzzDecoderStaysWithinBounds(f *testing.F) {
	opts := ipfixTemplate(258, 1, field{10, 4, 0}, field{82, 65535, 0})
	f.Add(ipfixMsg(1, 0, set(2, ipfixTemplate(256, 0, field{152, 8, 0}, field{2, 8, 0})), set(256, be(nil).u64(1<<53).u64(1))),
		ipfixMsg(1, 1, set(3, opts), set(258, be(nil).u32(1).raw(varField([]byte("e\x1bth0"))))), uint8(1))
	f.Add(v9Packet(1, 0, set(0, v9Template(256, field{1, 4, 0}, field{99, 65535, 0}))),
		ipfixMsg(2, 0, set(2, be(nil).u16(2).u16(0)), set(3, be(nil).u16(3).u16(0))), uint8(0))
	f.Add(flowTemplates(256, 300, 20), flowTemplates(400, 420, 3), uint8(2))
	f.Fuzz(func(t *testing.T, a, b []byte, sender uint8) {
		limits := Limits{ExporterBytes: 8 << 10, TotalBytes: 20 << 10}
		d := NewDecoderWithLimits(limits)
		exporters := []netip.AddrPort{exporterA, exporterB, netip.MustParseAddrPort("[2001:db8::1]:4739")}
		for i, dg := range [][]byte{a, b, a, b} {
			from := exporters[(int(sender)+i)%len(exporters)]
			m, _ := d.Decode(from, dg)
			for _, r := range m.Records {
				if _, err := json.Marshal([]any{r.Start, r.End, r.RevStart, r.RevEnd}); err != nil {
					t.Fatalf("record times not JSON: %v", err)
				}
				checkPrintable(t, r.AppServer)
			}
			if info := d.Exporter(from, m.Version, m.SourceID); info != nil {
				for _, in := range info.Interfaces {
					checkPrintable(t, in.Name)
					checkPrintable(t, in.Description)
				}
				for _, ap := range info.Applications {
					checkPrintable(t, ap.Name)
					checkPrintable(t, ap.Description)
				}
			}
			checkAccount(t, d, limits)
		}
	})
}

func checkPrintable(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) || len(s) > 4*maxNameLen {
		t.Fatalf("name %q: not UTF-8 or too long", s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			t.Fatalf("name %q holds %U", s, r)
		}
	}
}

// checkAccount recomputes the Decoder's memory account from what it holds.
func checkAccount(t *testing.T, d *Decoder, l Limits) {
	t.Helper()
	total := 0
	for addr, ex := range d.mem.exporters {
		bytes := exporterCost
		for el := ex.entries.Front(); el != nil; el = el.Next() {
			e := el.Value.(*memEntry)
			if e.owner != ex || e.key.from.Addr() != addr {
				t.Fatalf("entry %+v listed under %v", e.key, addr)
			}
			held := d.streams[e.key.streamKey] != nil
			if e.key.id != 0 {
				held = d.templates[e.key] != nil
			}
			if !held {
				t.Fatalf("entry %+v accounted but not held", e.key)
			}
			bytes += e.size
		}
		if bytes != ex.bytes || bytes > l.ExporterBytes {
			t.Fatalf("exporter %v: %d bytes listed, %d accounted, bound %d", addr, bytes, ex.bytes, l.ExporterBytes)
		}
		total += bytes
	}
	for k, tpl := range d.templates {
		if tpl.mem.owner == nil {
			t.Fatalf("template %+v held but not accounted", k)
		}
	}
	for k, s := range d.streams {
		if s.mem.owner == nil {
			t.Fatalf("stream %+v held but not accounted", k)
		}
	}
	if got, _ := d.Memory(); got != total || total > l.TotalBytes {
		t.Fatalf("memory %d, entries add up to %d, bound %d", got, total, l.TotalBytes)
	}
}
