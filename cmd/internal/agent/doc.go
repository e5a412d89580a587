// Package agent is the daemon: it drives the whole data flow
// NIC → map → Delta → Record → datagram → collector at run time. Live
// (Run), it opens and attaches the datapath (probe), harvests it every
// interval into the flow table (cache), exports what expires through one
// stream per collector (exporter), keeps counts durable across crashes
// with the pinned ledger (keeper), re-attaches interfaces that come back,
// and answers `spanflow show` and /metrics. Offline (RunOffline), it
// replays a capture through probe.FrameSource into the same table and
// streams.
//
// The keeper reaches the datapath and the ledger through small interfaces
// (Slots, Ledger), so its guarantees are tested with fakes, without root.
// The package never parses flags: cmd/spanflow hands it a checked Config.
package agent
