package probetest

import (
	"os"
	"testing"
)

// RequireRoot skips the test, saying why, unless it runs as root (which
// holds CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON and CAP_SYS_ADMIN for netns).
// As root a missing kernel feature is a failure, not a skip.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: loading XDP and creating network namespaces need CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON and CAP_SYS_ADMIN")
	}
}
