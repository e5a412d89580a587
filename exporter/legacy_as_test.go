package exporter

import "testing"

// TestLegacyAS16 pins RFC 6793's rule for the 2-byte AS fields of v5 and
// v8: an AS number above 65535 travels as AS_TRANS, 23456.
func TestLegacyAS16(t *testing.T) {
	for as, want := range map[uint32]uint16{0: 0, 64500: 64500, 65535: 65535, 65536: 23456, 4200000001: 23456, 1<<32 - 1: 23456} {
		if got := legacyAS16(as); got != want {
			t.Errorf("AS %d: %d, want %d", as, got, want)
		}
	}
}
