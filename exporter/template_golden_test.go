package exporter

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/exporter/decode"
	"github.com/spanflow/spanflow/exporter/ie"
)

type goldenCase struct {
	file string
	desc string
	s    Settings
	o    TemplateOptions
	recs []cache.Record
}

func goldenCases() []goldenCase {
	full := TemplateOptions{
		AppID:        true,
		Interfaces:   []ie.Interface{{Index: 2, Name: "eth0", Description: "SPAN from sw1 Gi0/1"}, {Index: 3, Name: "eth1", Description: "uplink"}},
		Applications: []ie.Application{{ID: 3<<24 | 443, Name: "https", Description: "HTTP over TLS"}},
	}
	var many []cache.Record
	for i := 0; i < 12; i++ {
		many = append(many, fixedRecords()...)
	}
	var cases []goldenCase
	for _, f := range []struct{ prefix, name string }{{"v9", "NetFlow v9"}, {"ipfix", "IPFIX"}} {
		cases = append(cases,
			goldenCase{
				file: f.prefix + "_all_templates.hex",
				desc: f.name + ": fixedRecords() (IPv4, IPv6, IPv4 biflow, IPv6 ICMPv6 biflow) with applicationId;\n" +
					"sampling 1-in-100 random, 2 interface names, 1 application name; source id 9",
				s: Settings{Boot: tplBoot, SourceID: 9, SamplingInterval: 100, SamplingRandom: true},
				o: full, recs: fixedRecords(),
			},
			goldenCase{
				file: f.prefix + "_mtu576_refresh2.hex",
				desc: f.name + ": 48 records (fixedRecords() x12), MTU 576, template refresh every 2 datagrams;\n" +
					"sampling 1-in-8 deterministic, no options but sampling; source id 1",
				s:    Settings{MTU: 576, Boot: tplBoot, SourceID: 1, SamplingInterval: 8, TemplateRefreshPackets: 2},
				recs: many,
			},
		)
	}
	return cases
}

func TestGoldenTemplateDatagrams(t *testing.T) {
	for _, gc := range goldenCases() {
		t.Run(gc.file, func(t *testing.T) {
			var e Encoder
			var err error
			if strings.HasPrefix(gc.file, "v9") {
				e, err = NewV9Encoder(gc.s, gc.o)
			} else {
				e, err = NewIPFIXEncoder(gc.s, gc.o)
			}
			if err != nil {
				t.Fatal(err)
			}
			dg := encodeAll(t, e, tplNow, gc.recs)
			about := fmt.Sprintf("spanflow golden datagrams: %s\n%s\nClock: now %s, boot %s.", gc.file, gc.desc,
				tplNow.Format("2006-01-02T15:04:05Z"), tplBoot.Format("2006-01-02T15:04:05Z"))
			want := checkGolden(t, gc.file, about, dg, templateParts)
			if *update {
				writeFuzzCorpus(t, gc.file, dg)
			}
			if t.Failed() {
				t.FailNow()
			}
			// The golden bytes decode back to the records.
			d := decode.NewDecoder()
			var got []cache.Record
			for _, b := range want {
				m, err := d.Decode(tplFrom, b)
				if err != nil {
					t.Fatalf("decode golden: %v", err)
				}
				got = append(got, m.Records...)
			}
			version := uint16(9)
			if strings.HasPrefix(gc.file, "ipfix") {
				version = 10
			}
			var wantRecs []cache.Record
			for _, r := range gc.recs {
				r = wireView(version, r)
				if gc.s.SamplingInterval > 1 {
					r.SamplingInterval, r.SamplingRandom = gc.s.SamplingInterval, gc.s.SamplingRandom
				}
				if !gc.o.AppID {
					r.AppID = 0
				}
				wantRecs = append(wantRecs, r)
			}
			if diff := cmp.Diff(wantRecs, got, addrComparer); diff != "" {
				t.Fatalf("golden datagrams decode to other records (-want +got):\n%s", diff)
			}
		})
	}
}

// templateParts names a v9 or IPFIX datagram's parts: the header, each
// set, and trailing bytes if any.
func templateParts(d []byte) []hexPart {
	off := 20
	ipfix := binary.BigEndian.Uint16(d) == 10
	if ipfix {
		off = 16
	}
	parts := []hexPart{{0, off, describeHeader(d)}}
	for off+4 <= len(d) {
		id, n := binary.BigEndian.Uint16(d[off:]), int(binary.BigEndian.Uint16(d[off+2:]))
		if n < 4 || off+n > len(d) {
			break
		}
		parts = append(parts, hexPart{off, n, fmt.Sprintf("set id %d (%s), %d bytes", id, setKind(ipfix, id), n)})
		off += n
	}
	if off < len(d) {
		parts = append(parts, hexPart{off, len(d) - off, "trailing bytes"})
	}
	return parts
}

func describeHeader(d []byte) string {
	if binary.BigEndian.Uint16(d) == 10 {
		return fmt.Sprintf("IPFIX header: length %d, export time %d, sequence %d, observation domain %d",
			binary.BigEndian.Uint16(d[2:]), binary.BigEndian.Uint32(d[4:]), binary.BigEndian.Uint32(d[8:]), binary.BigEndian.Uint32(d[12:]))
	}
	return fmt.Sprintf("v9 header: count %d, sysUptime %d ms, unix secs %d, sequence %d, source id %d",
		binary.BigEndian.Uint16(d[2:]), binary.BigEndian.Uint32(d[4:]), binary.BigEndian.Uint32(d[8:]),
		binary.BigEndian.Uint32(d[12:]), binary.BigEndian.Uint32(d[16:]))
}

func setKind(ipfix bool, id uint16) string {
	switch {
	case !ipfix && id == 0, ipfix && id == 2:
		return "template"
	case !ipfix && id == 1, ipfix && id == 3:
		return "options template"
	case id >= 256:
		return fmt.Sprintf("data of template %d", id)
	}
	return "reserved"
}
