// Package probetest holds helpers for tests that need the kernel: root
// gating, network namespaces with veth pairs, and test frames.
package probetest
