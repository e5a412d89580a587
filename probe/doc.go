// Package probe turns packets into flow deltas. Live, it will load the XDP
// program of package bpf, attach it to interfaces and harvest its flow
// slots; offline, it reads capture files and runs the reference parser,
// which makes the same decisions as the datapath, byte for byte.
//
// The reference parser (ParseEthernet, ParseFrame) is the oracle the XDP
// program is tested against and the engine of offline mode (-r). The
// capture reader (OpenCapture) reads pcap and pcapng files of the link
// types offline mode accepts.
//
// probe owns the kernel side of the flow pipeline and the packet formats.
// It never keeps long-lived flow state (that is package cache), never
// encodes NetFlow (package exporter) and never logs: every problem is
// returned as an error.
package probe
