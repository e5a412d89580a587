package exporter

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/exporter/ie"
)

// TestApplicationTableOnItsOwnTimer: with ApplicationRefresh set, a large
// application table goes out at the first refresh and then once per
// interval, not with every template refresh; without it, with every one.
func TestApplicationTableOnItsOwnTimer(t *testing.T) {
	apps := make([]ie.Application, 300)
	for i := range apps {
		apps[i] = ie.Application{ID: 22<<24 | uint32(i+1), Name: fmt.Sprintf("app%d", i+1), Description: "test"}
	}
	boot := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	rec := cache.Record{SrcAddr: netip.MustParseAddr("198.18.0.1"), DstAddr: netip.MustParseAddr("198.19.0.2"),
		SrcPort: 40000, DstPort: 9090, Proto: 6, IPVersion: 4, Packets: 1, Bytes: 40, Start: boot, End: boot, AppID: 22<<24 | 7}
	for _, ipfix := range []bool{false, true} {
		for _, every := range []time.Duration{0, 10 * time.Minute} {
			o := TemplateOptions{AppID: true, Applications: apps, ApplicationRefresh: every}
			s := Settings{Boot: boot, TemplateRefreshPackets: 20}
			var enc Encoder
			var err error
			if ipfix {
				enc, err = NewIPFIXEncoder(s, o)
			} else {
				enc, err = NewV9Encoder(s, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			d := decode.NewDecoder()
			from := netip.MustParseAddrPort("127.0.0.1:2055")
			datagrams := 0
			emit := func(b []byte) {
				datagrams++
				if _, err := d.Decode(from, b); err != nil {
					t.Fatalf("decode: %v", err)
				}
			}
			// 200 batches of one record each: one datagram per batch
			// plus refreshes, over 5 minutes.
			for i := range 200 {
				now := boot.Add(time.Duration(i) * 1500 * time.Millisecond)
				if err := enc.Encode(now, []cache.Record{rec}, emit); err != nil {
					t.Fatal(err)
				}
			}
			before := d.Stats().OptionRecords
			// 40 more from 16 minutes on: the next refresh carries it again.
			for i := range 40 {
				if err := enc.Encode(boot.Add(16*time.Minute+time.Duration(i)*time.Second), []cache.Record{rec}, emit); err != nil {
					t.Fatal(err)
				}
			}
			late := d.Stats().OptionRecords - before
			name := fmt.Sprintf("ipfix=%v every=%v", ipfix, every)
			if d.Stats().Records != 240 {
				t.Fatalf("%s: %d records decoded, want 240", name, d.Stats().Records)
			}
			if every == 0 {
				// Every refresh (one per 20 datagrams at least) carries
				// the whole table.
				if before < 5*uint64(len(apps)) {
					t.Errorf("%s: %d option records in 200 batches, want the table at every refresh", name, before)
				}
				continue
			}
			if before != uint64(len(apps)) {
				t.Errorf("%s: %d option records before the interval passed, want the table once (%d)", name, before, len(apps))
			}
			if late != uint64(len(apps)) {
				t.Errorf("%s: %d option records in the refresh after the interval, want the table once again (%d)", name, late, len(apps))
			}
			if datagrams > 240+2*25+20 {
				t.Errorf("%s: %d datagrams for 240 one-record batches", name, datagrams)
			}
			info := d.Exporter(from, map[bool]uint16{false: 9, true: 10}[ipfix], 0)
			if info == nil || info.Applications[22<<24|7].Name != "app7" {
				t.Errorf("%s: application 22:7 not named app7", name)
			}
		}
	}
}
