package agent

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spanflow/spanflow/bpf"
)

func newHarvestHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "spanflow_harvest_duration_seconds",
		Help:    "Time to flip and drain the kernel flow slot.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs to ~26s
	})
}

var (
	descPackets      = prometheus.NewDesc("spanflow_datapath_packets_total", "Packets seen by the XDP program, by outcome (no_l4, app_sampled and app_dropped are subsets of accounted: cut transport header; payload head handed to the classifier; head the sample ring had no room for).", []string{"outcome"}, nil)
	descBytes        = prometheus.NewDesc("spanflow_datapath_bytes_total", "Bytes by outcome: IP length for accounted/map_full/duplicate/no_l4, head bytes handed out for app_sampled, payload length for app_dropped, frame length otherwise.", []string{"outcome"}, nil)
	descActive       = prometheus.NewDesc("spanflow_flows_active", "Flows in the flow cache.", nil, nil)
	descCreated      = prometheus.NewDesc("spanflow_flows_created_total", "Flows added to the flow cache.", nil, nil)
	descExpired      = prometheus.NewDesc("spanflow_flows_expired_total", "Flow records expired, by end reason.", []string{"reason"}, nil)
	descEmergency    = prometheus.NewDesc("spanflow_flows_emergency_expired_total", "Flows forced out of a full flow cache.", nil, nil)
	descLedgerLost   = prometheus.NewDesc("spanflow_ledger_lost_total", "Record directions a stream lost, kept in the ledger for the next start.", nil, nil)
	descLedgerForgot = prometheus.NewDesc("spanflow_ledger_forgotten_unsent_total", "Record directions the ledger forgot unsent because too many waited.", nil, nil)
	descFill         = prometheus.NewDesc("spanflow_map_fill_ratio", "Entries drained at the last harvest over the slot size.", nil, nil)
	descHarvestEr    = prometheus.NewDesc("spanflow_harvest_errors_total", "Harvests that failed.", nil, nil)
	descRecords      = prometheus.NewDesc("spanflow_export_records_total", "Records handed to a collector's stream.", []string{"collector"}, nil)
	descDropped      = prometheus.NewDesc("spanflow_export_records_dropped_total", "Records dropped because the collector could not keep up.", []string{"collector"}, nil)
	descSkipped      = prometheus.NewDesc("spanflow_export_records_skipped_total", "Records the export version cannot carry (IPv6 in v1/v5/v7/v8).", []string{"collector"}, nil)
	descDatagrams    = prometheus.NewDesc("spanflow_export_datagrams_total", "Datagrams sent to a collector.", []string{"collector"}, nil)
	descSendErr      = prometheus.NewDesc("spanflow_export_errors_total", "Failed sends, by reason.", []string{"collector", "reason"}, nil)
	descAppFlows     = prometheus.NewDesc("spanflow_application_flows_total", "One-way flows exported, by application: nDPI 4.2's name, Unknown when unclassified, so at most the ~300 names of nDPI's table.", []string{"application"}, nil)
	descAppPkts      = prometheus.NewDesc("spanflow_application_packets_total", "Packets of the flows exported, by application (nDPI 4.2's names and Unknown: bounded).", []string{"application"}, nil)
	descAppBytes     = prometheus.NewDesc("spanflow_application_bytes_total", "Bytes of the flows exported, by application (nDPI 4.2's names and Unknown: bounded).", []string{"application"}, nil)
	descVerdicts     = prometheus.NewDesc("spanflow_application_verdicts_total", "One-way flows exported, by how their application was known: payload, port_guess or unknown (the classifier gave up), protocol (IP protocol number).", []string{"verdict"}, nil)
	descConvs        = prometheus.NewDesc("spanflow_classifier_conversations_total", "Conversations (both directions of a flow) the classifier started.", nil, nil)
	descConvsDone    = prometheus.NewDesc("spanflow_classifier_finished_total", "Conversations the classifier finished while fed samples: named by their payload, or given up with the sample budget spent both ways (spanflow_application_verdicts_total tells the two apart).", nil, nil)
	descConvsKept    = prometheus.NewDesc("spanflow_classifier_conversations", "Conversations the classifier keeps: those with a flow in the table.", nil, nil)
	descNICPkts      = prometheus.NewDesc("spanflow_interface_nic_rx_packets_total", "Packets the NIC (driver) received on an attached interface since spanflow attached, as of the last harvest: compare with spanflow_interface_accounted_packets_total.", []string{"interface"}, nil)
	descNICDrop      = prometheus.NewDesc("spanflow_interface_nic_rx_dropped_total", "Packets the NIC (driver or stack) dropped on receive since attach, as of the last harvest.", []string{"interface"}, nil)
	descNICMiss      = prometheus.NewDesc("spanflow_interface_nic_rx_missed_total", "Packets the NIC missed (no room in its ring: lost before XDP) since attach, as of the last harvest.", []string{"interface"}, nil)
	descNICErr       = prometheus.NewDesc("spanflow_interface_nic_rx_errors_total", "Receive errors the NIC counted since attach, as of the last harvest.", []string{"interface"}, nil)
	descIfAcct       = prometheus.NewDesc("spanflow_interface_accounted_packets_total", "Packets XDP accounted into flows from an interface since attach (absent when --key leaves out the ifindex).", []string{"interface"}, nil)
	descIfEvents     = prometheus.NewDesc("spanflow_interface_events_total", "Interface events: down, up, deleted, reattached, reattach-failed.", []string{"interface", "event"}, nil)
)

var statOutcomeNames = [bpf.StatMax]string{"accounted", "not_ip", "truncated", "malformed", "unsupported", "sampled_out", "map_full",
	"duplicate", "overflow", "no_l4", "app_sampled", "app_dropped"}

// Describe and Collect make the Agent a prometheus.Collector that reads
// its counters at scrape time: nothing is counted twice.
func (d *Agent) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(d, ch)
}

func (d *Agent) Collect(ch chan<- prometheus.Metric) {
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	d.mu.Lock()
	for r, v := range d.stats {
		counter(descPackets, v.Packets, statOutcomeNames[r])
		counter(descBytes, v.Bytes, statOutcomeNames[r])
	}
	ch <- prometheus.MustNewConstMetric(descFill, prometheus.GaugeValue, float64(d.lastEntries)/float64(d.cfg.Probe.MapEntries))
	counter(descHarvestEr, d.harvestErrors)
	for _, st := range d.ifaces {
		for ev, n := range st.Events {
			counter(descIfEvents, n, st.Name, ev)
		}
		if !st.Attached || d.nic == nil {
			continue
		}
		c := d.nicCheckOf(st)
		counter(descNICPkts, c.RxPackets, st.Name)
		counter(descNICDrop, c.RxDropped, st.Name)
		counter(descNICMiss, c.RxMissed, st.Name)
		counter(descNICErr, c.RxErrors, st.Name)
		if c.Accounted != nil {
			counter(descIfAcct, *c.Accounted, st.Name)
		}
	}
	d.mu.Unlock()

	ts := d.table.Stats()
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(ts.Active))
	counter(descCreated, ts.Added)
	counter(descExpired, ts.Expired.Idle, "idle")
	counter(descExpired, ts.Expired.Active, "active")
	counter(descExpired, ts.Expired.EndOfFlow, "end_of_flow")
	counter(descExpired, ts.Expired.Forced, "forced")
	counter(descExpired, ts.Expired.LackOfResources, "lack_of_resources")
	counter(descEmergency, ts.Emergency)
	if d.keep != nil {
		counter(descLedgerLost, d.keep.lostRecords.Load())
		counter(descLedgerForgot, d.keep.forgotUnsent.Load())
	}
	for _, s := range d.pipe.streams {
		cs := s.Stats()
		counter(descRecords, cs.RecordsOffered, s.Name)
		counter(descDropped, cs.RecordsDropped, s.Name)
		counter(descSkipped, cs.RecordsSkipped, s.Name)
		counter(descDatagrams, cs.Datagrams, s.Name)
		for reason, n := range cs.SendErrors {
			counter(descSendErr, n, s.Name, reason)
		}
	}
	d.collectApps(ch)
	d.harvestHist.Collect(ch)
}

// collectApps reads the per-application tally and the classifier: no
// series while classification is off.
func (d *Agent) collectApps(ch chan<- prometheus.Metric) {
	if d.pipe.apps == nil {
		return
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	var payload, guess, protocol, unknown uint64
	for _, r := range d.pipe.tally.Snapshot(0) {
		counter(descAppFlows, r.Flows, r.Name)
		counter(descAppPkts, r.Packets, r.Name)
		counter(descAppBytes, r.Bytes, r.Name)
		payload += r.Payload
		guess += r.PortGuess
		protocol += r.Protocol
		unknown += r.Flows - r.Payload - r.PortGuess - r.Protocol
	}
	counter(descVerdicts, payload, "payload")
	counter(descVerdicts, guess, "port_guess")
	counter(descVerdicts, protocol, "protocol")
	counter(descVerdicts, unknown, "unknown")
	convs, finished, kept := d.pipe.apps.counts()
	counter(descConvs, convs)
	counter(descConvsDone, finished)
	ch <- prometheus.MustNewConstMetric(descConvsKept, prometheus.GaugeValue, float64(kept))
}

// metricsServer serves /metrics until closed.
type metricsServer struct{ srv *http.Server }

func serveMetrics(addr string, d *Agent) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(d); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := metricsHTTPServer(mux)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server", "err", err)
		}
	}()
	return &metricsServer{srv: srv}, nil
}

func (m *metricsServer) Close() error { return m.srv.Close() }

// metricsHTTPServer serves h with every phase of a connection bounded: a
// client that opens connections and then idles, or sends slowly, cannot
// hold them (and the goroutines behind them) for ever.
func metricsHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
}
