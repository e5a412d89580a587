package flowprint

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spanflow/spanflow/cache"
)

// TestWriteTextRoutingTail: a mirror port's record keeps the header's
// columns alone; one with routing information ends with its output
// (index, Local, Null), next hop, masks and AS numbers.
func TestWriteTextRoutingTail(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	base := cache.Record{
		SrcAddr: netip.MustParseAddr("198.18.0.1"), DstAddr: netip.MustParseAddr("198.19.2.3"), SrcPort: 40000, DstPort: 443,
		Proto: 6, InIfIndex: 2, Packets: 10, Bytes: 1500, TCPFlags: 0x12, Start: start, End: start.Add(1500 * time.Millisecond),
		EndReason: cache.EndIdle,
	}
	line := "2026-12-01 00:00:00.000    1.500 TCP     198.18.0.1:40000" + strings.Repeat(" ", 17) +
		" -> 198.19.2.3:443" + strings.Repeat(" ", 8) + " ...A..S. 0x00       10     1500 -" + strings.Repeat(" ", 15) + " idle"
	local, fwd, null := base, base, base
	local.Out, local.SrcMask, local.SrcAS, local.DstMask = cache.OutLocal, 24, 64500, 32
	fwd.Out, fwd.OutIfIndex, fwd.NextHop, fwd.DstMask, fwd.DstAS = cache.OutIface, 7, netip.MustParseAddr("10.0.0.1"), 16, 64510
	null.Out = cache.OutNull
	for _, tc := range []struct {
		r    cache.Record
		want string
	}{
		{base, line},
		{local, line + " | in 2 out Local via - src /24 AS64500 dst /32 AS0"},
		{fwd, line + " | in 2 out 7 via 10.0.0.1 src /0 AS0 dst /16 AS64510"},
		{null, line + " | in 2 out Null via - src /0 AS0 dst /0 AS0"},
	} {
		var b strings.Builder
		if err := WriteText(&b, &tc.r); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tc.want+"\n" {
			t.Errorf("WriteText:\n got %q\nwant %q", got, tc.want+"\n")
		}
	}
}
