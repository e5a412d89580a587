// Package probetest holds test helpers for the "NIC → map → Delta" steps of
// NIC → map → Delta → Record → datagram → collector, for tests that need the kernel: root
// gating (RequireRoot), network namespaces with veth pairs and commands run
// inside them (NetNS, VethPair), the replay network of the integration
// tests (ReplayNet: a quiet veth pair with a backpressuring qdisc, and a
// tcpreplay runner), and a deterministic capture generator (WriteCapture)
// that returns the capture's per-flow ground truth by construction.
//
// All generated traffic uses 198.18.0.0/15 and 2001:db8::/32 and stays in
// namespaces the test created; everything is removed at test cleanup.
package probetest
