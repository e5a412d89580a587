package agent

import (
	"net/http"
	"testing"
)

// TestMetricsServerBoundsEveryPhase: without an idle timeout a client's
// keep-alive connections stayed open for ever (the server had only a
// header timeout).
func TestMetricsServerBoundsEveryPhase(t *testing.T) {
	s := metricsHTTPServer(http.NotFoundHandler())
	for name, d := range map[string]int64{"ReadHeaderTimeout": int64(s.ReadHeaderTimeout), "ReadTimeout": int64(s.ReadTimeout),
		"WriteTimeout": int64(s.WriteTimeout), "IdleTimeout": int64(s.IdleTimeout)} {
		if d <= 0 {
			t.Errorf("metrics server %s is %d: unbounded", name, d)
		}
	}
}
