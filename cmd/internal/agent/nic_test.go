package agent

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
)

// nicAgent is an agent with two interfaces attached, eth0 (ifindex 3) and
// eth1 (ifindex 4), whose NICs count what the test sets in nics.
func nicAgent(t *testing.T, cfg *Config, nics map[int]nicCounters) *Agent {
	t.Helper()
	tb, err := cache.NewTable(cache.Config{InactiveTimeout: 15 * time.Second, ActiveTimeout: 30 * time.Minute, MaxFlows: 1024},
		cache.NewCaptureClock(appsStart))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Probe.MapEntries = 1024
	d := &Agent{cfg: cfg, log: slog.New(slog.DiscardHandler), table: tb, pipe: &pipeline{}, ifaces: map[string]*ifaceState{},
		harvestHist: newHarvestHistogram()}
	d.nic = func(index int) (nicCounters, error) { return nics[index], nil }
	d.noteAttached(&probe.Attachment{Interface: "eth0", Index: 3, Mode: probe.ModeNative})
	d.noteAttached(&probe.Attachment{Interface: "eth1", Index: 4, Mode: probe.ModeGeneric})
	return d
}

// harvestDeltas does what the harvest loop does after a drain.
func harvestDeltas(d *Agent, deltas ...cache.Delta) {
	nics := d.readNICs()
	d.mu.Lock()
	d.noteHarvested(deltas, nics)
	d.mu.Unlock()
}

func packetsOn(ifindex uint32, packets uint64) cache.Delta {
	k := appKey(17, "198.18.0.1:1000", "198.18.0.2:2000")
	k.Ifindex, k.SrcPort = ifindex, uint16(packets) // one flow per call
	return cache.Delta{Key: k, Packets: packets, Bytes: packets * 100}
}

func TestShowInterfacesCrossChecksTheNIC(t *testing.T) {
	nics := map[int]nicCounters{3: {Packets: 1000, Dropped: 5, Missed: 2}, 4: {Packets: 500, Errors: 1}}
	d := nicAgent(t, &Config{}, nics)
	// Since attach: eth0 received 100 and missed 10 (lost before XDP);
	// eth1 received 60, of which XDP accounted 50.
	nics[3] = nicCounters{Packets: 1100, Dropped: 7, Missed: 12, Errors: 3, FIFOErrors: 1, OverErrors: 2}
	nics[4] = nicCounters{Packets: 560, Errors: 1}
	harvestDeltas(d, packetsOn(3, 60), packetsOn(4, 50), packetsOn(3, 40))

	want := `eth0 (ifindex 3): XDP native mode, up
  NIC since attach: 100 packets received, 2 dropped, 10 missed, 3 errors (1 FIFO, 2 overrun)
  XDP accounted since attach: 100 packets into flows; 0 received by the NIC but not accounted
eth1 (ifindex 4): XDP generic mode, up
  NIC since attach: 60 packets received, 0 dropped, 0 missed, 0 errors (0 FIFO, 0 overrun)
  XDP accounted since attach: 50 packets into flows; 10 received by the NIC but not accounted
`
	if got := appsShow(t, d, false, "interfaces"); got != want {
		t.Errorf("show interfaces:\n%s\nwant:\n%s", got, want)
	}

	var list []struct {
		Name string
		NIC  *struct {
			RxPackets, RxDropped, RxMissed uint64
			Accounted                      *uint64
			NotAccounted                   *int64
		}
	}
	if err := json.Unmarshal([]byte(appsShow(t, d, true, "interfaces")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].NIC == nil || list[1].NIC.RxPackets != 60 || *list[1].NIC.Accounted != 50 || *list[1].NIC.NotAccounted != 10 ||
		list[0].NIC.RxMissed != 10 || list[0].NIC.RxDropped != 2 {
		t.Errorf("show interfaces --json: %s", appsShow(t, d, true, "interfaces"))
	}

	metrics := `
# HELP spanflow_interface_accounted_packets_total Packets XDP accounted into flows from an interface since attach (absent when --key leaves out the ifindex).
# TYPE spanflow_interface_accounted_packets_total counter
spanflow_interface_accounted_packets_total{interface="eth0"} 100
spanflow_interface_accounted_packets_total{interface="eth1"} 50
# HELP spanflow_interface_nic_rx_missed_total Packets the NIC missed (no room in its ring: lost before XDP) since attach, as of the last harvest.
# TYPE spanflow_interface_nic_rx_missed_total counter
spanflow_interface_nic_rx_missed_total{interface="eth0"} 10
spanflow_interface_nic_rx_missed_total{interface="eth1"} 0
# HELP spanflow_interface_nic_rx_packets_total Packets the NIC (driver) received on an attached interface since spanflow attached, as of the last harvest: compare with spanflow_interface_accounted_packets_total.
# TYPE spanflow_interface_nic_rx_packets_total counter
spanflow_interface_nic_rx_packets_total{interface="eth0"} 100
spanflow_interface_nic_rx_packets_total{interface="eth1"} 60
`
	if err := testutil.CollectAndCompare(d, strings.NewReader(metrics), "spanflow_interface_accounted_packets_total",
		"spanflow_interface_nic_rx_missed_total", "spanflow_interface_nic_rx_packets_total"); err != nil {
		t.Error(err)
	}

	// Attached again (same ifindex): both sides start from zero there.
	d.noteAttached(&probe.Attachment{Interface: "eth1", Index: 4, Mode: probe.ModeGeneric})
	nics[4] = nicCounters{Packets: 570, Errors: 1}
	harvestDeltas(d, packetsOn(4, 9))
	if got := appsShow(t, d, false, "interfaces"); !strings.HasSuffix(got,
		"  NIC since attach: 10 packets received, 0 dropped, 0 missed, 0 errors (0 FIFO, 0 overrun)\n"+
			"  XDP accounted since attach: 9 packets into flows; 1 received by the NIC but not accounted\n") {
		t.Errorf("show interfaces after eth1 attached again:\n%s", got)
	}
}

func TestShowInterfacesSaysNAWithoutTheIfindexInTheKey(t *testing.T) {
	cfg := &Config{}
	cfg.Probe.KeyFields = bpf.KeySrcAddr | bpf.KeyDstAddr
	nics := map[int]nicCounters{3: {}, 4: {}}
	d := nicAgent(t, cfg, nics)
	nics[3] = nicCounters{Packets: 7}
	harvestDeltas(d, packetsOn(0, 7)) // the datapath zeroed the ifindex
	got := appsShow(t, d, false, "interfaces")
	if !strings.Contains(got, "eth0 (ifindex 3): XDP native mode, up\n  NIC since attach: 7 packets received,") ||
		strings.Count(got, "  XDP accounted since attach: n/a (--key leaves the ifindex out of the flow key)\n") != 2 {
		t.Errorf("show interfaces with --key src-addr,dst-addr:\n%s", got)
	}
	if !strings.Contains(appsShow(t, d, true, "interfaces"), `"Accounted": null`) {
		t.Errorf("show interfaces --json: Accounted is not null:\n%s", appsShow(t, d, true, "interfaces"))
	}
	if n := testutil.CollectAndCount(d, "spanflow_interface_accounted_packets_total"); n != 0 {
		t.Errorf("%d accounted series without the ifindex in the key, want none", n)
	}
}

func TestShowInterfacesDoesNotCompareWhenSampling(t *testing.T) {
	cfg := &Config{}
	cfg.Probe.SampleRate = 10
	nics := map[int]nicCounters{3: {}, 4: {}}
	d := nicAgent(t, cfg, nics)
	nics[3] = nicCounters{Packets: 100}
	harvestDeltas(d, packetsOn(3, 10))
	if got := appsShow(t, d, false, "interfaces"); !strings.Contains(got,
		"  XDP accounted since attach: 10 packets into flows (sampling 1 in 10: not comparable)\n") {
		t.Errorf("show interfaces when sampling:\n%s", got)
	}
}

func TestNICCountersSinceAttach(t *testing.T) {
	base := nicCounters{Packets: 100, Dropped: 10, Missed: 5}
	now := nicCounters{Packets: 150, Dropped: 3, Missed: 5, Errors: 2} // dropped went back: reset
	want := nicCounters{Packets: 50, Dropped: 3, Missed: 0, Errors: 2}
	if diff := cmp.Diff(want, now.since(base)); diff != "" {
		t.Errorf("since (-want +got):\n%s", diff)
	}
}
