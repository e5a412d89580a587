package exporter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
	"github.com/spanflow/spanflow/exporter/decode"
)

// ntopLongSNI is 70 bytes: whole in IPFIX, cut to ie.NtopServerLen in v9.
var ntopLongSNI = strings.Repeat("a", 50) + ".cdn.example.net" + ".com"

// ntopRecords are fixedRecords with nDPI applications and server names,
// one per server element: HTTP (HTTP_HOST), DNS (DNS_QUERY), TLS with a
// long SNI (SSL_SERVER_NAME), and an ICMPv6 flow with no application.
func ntopRecords() []cache.Record {
	recs := fixedRecords()
	recs[0].AppID, recs[0].AppKind, recs[0].AppServer = cache.AppIDOf(app.HTTP), cache.AppPayload, "www.example.com"
	recs[1].AppID, recs[1].AppKind, recs[1].AppServer = cache.AppIDOf(app.DNS), cache.AppPayload, "example.org"
	recs[2].AppID, recs[2].AppKind, recs[2].AppServer = cache.AppIDOf(app.TLS), cache.AppPayload, ntopLongSNI
	recs[3].AppID = 0
	return recs
}

// ntopWireView is what the decoder gives back of r: the server name (v9
// cuts it), and the application, from IE 95 or from L7_PROTO without it.
// AppKind does not travel.
func ntopWireView(version uint16, r cache.Record) cache.Record {
	r = wireView(version, r)
	r.AppKind = 0
	if version == 9 && len(r.AppServer) > 64 {
		r.AppServer = r.AppServer[:64]
	}
	return r
}

func TestNtopFieldsRoundTrip(t *testing.T) {
	for _, ipfix := range []bool{false, true} {
		for _, appID := range []bool{true, false} {
			t.Run(fmt.Sprintf("ipfix=%v/appId=%v", ipfix, appID), func(t *testing.T) {
				o := TemplateOptions{AppID: appID, NtopFields: true}
				var e Encoder
				var err error
				version := uint16(9)
				if ipfix {
					version = 10
					e, err = NewIPFIXEncoder(Settings{Boot: tplBoot}, o)
				} else {
					e, err = NewV9Encoder(Settings{Boot: tplBoot}, o)
				}
				if err != nil {
					t.Fatal(err)
				}
				recs := ntopRecords()
				got := decodeAll(t, decode.NewDecoder(), encodeAll(t, e, tplNow, recs))
				var want []cache.Record
				for _, r := range recs {
					want = append(want, ntopWireView(version, r))
				}
				if diff := cmp.Diff(want, got, addrComparer); diff != "" {
					t.Fatalf("records after the trip (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// A server name of 255 bytes takes the 3-byte length form in IPFIX and
// still decodes; records of every size pack and decode.
func TestNtopFieldsLongServerNames(t *testing.T) {
	e, err := NewIPFIXEncoder(Settings{Boot: tplBoot, MTU: 576}, TemplateOptions{AppID: true, NtopFields: true})
	if err != nil {
		t.Fatal(err)
	}
	var recs []cache.Record
	for _, n := range []int{0, 1, 253, 254, 255, 300} {
		for _, r := range ntopRecords()[:3] {
			r.AppServer = strings.Repeat("x", n)
			recs = append(recs, r)
		}
	}
	got := decodeAll(t, decode.NewDecoder(), encodeAll(t, e, tplNow, recs))
	if len(got) != len(recs) {
		t.Fatalf("decoded %d records, want %d", len(got), len(recs))
	}
	for i, r := range got {
		want := recs[i].AppServer[:min(len(recs[i].AppServer), 255)]
		if r.AppServer != want {
			t.Errorf("record %d: server name of %d bytes, want %d", i, len(r.AppServer), len(want))
		}
	}
}

func TestGoldenNtopDatagrams(t *testing.T) {
	for _, f := range []struct{ file, name string }{{"v9_ntop.hex", "NetFlow v9"}, {"ipfix_ntop.hex", "IPFIX"}} {
		t.Run(f.file, func(t *testing.T) {
			o := TemplateOptions{AppID: true, NtopFields: true}
			s := Settings{Boot: tplBoot, SourceID: 7}
			var e Encoder
			var err error
			if strings.HasPrefix(f.file, "v9") {
				e, err = NewV9Encoder(s, o)
			} else {
				e, err = NewIPFIXEncoder(s, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			dg := encodeAll(t, e, tplNow, ntopRecords())
			about := fmt.Sprintf("spanflow golden datagrams: %s\n%s: ntopRecords() (HTTP www.example.com, DNS example.org, TLS with a 70-byte SNI,\n"+
				"ICMPv6 unclassified) with applicationId and --ntop-fields; source id 7\nClock: now %s, boot %s.", f.file, f.name,
				tplNow.Format("2006-01-02T15:04:05Z"), tplBoot.Format("2006-01-02T15:04:05Z"))
			checkGolden(t, f.file, about, dg, templateParts)
		})
	}
}
