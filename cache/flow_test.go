package cache

import (
	"testing"
	"unsafe"
)

// The memory figures in doc.go rest on these sizes.
func TestEntrySizes(t *testing.T) {
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"flow", unsafe.Sizeof(flow{}), 104},
		{"side", unsafe.Sizeof(side{}), 64},
		{"index slot", unsafe.Sizeof(slot{}), 8},
		{"timer", unsafe.Sizeof(timer{}), 16},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("sizeof(%s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}
