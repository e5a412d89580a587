// Package probe is the "map → Delta" step of
// NIC → map → Delta → Record → datagram → collector. Live, it loads the XDP
// program of package bpf, attaches it to interfaces and harvests its flow
// slots into cache.Deltas; offline, FrameSource reads capture files through
// the reference parser, which makes the same decisions as the datapath,
// byte for byte, and applies the same sampling and key masking.
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
