package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
)

// OfflineStats counts frames by the datapath's outcome reasons; Cache is
// the flow table's statistics after the final flush.
type OfflineStats struct {
	Frames  uint64
	Reasons [bpf.StatMax]uint64
	Cache   cache.Stats
}

// RunOffline reads cfg.ReadFile through the reference parser (the
// datapath's twin) into the same flow cache, the capture's timestamps
// driving the clock, flushes at the end and exports or prints the
// records. A capture cut short is exported as far as it reads, then
// reported.
func RunOffline(ctx context.Context, cfg *Config, log *slog.Logger) error {
	stats, err := Replay(ctx, cfg, log)
	if stats.Frames == 0 {
		return err
	}
	log.Info("capture done", "file", cfg.ReadFile, "frames", stats.Frames,
		"accounted", stats.Reasons[bpf.StatAccounted], "not_ip", stats.Reasons[bpf.StatNotIP],
		"truncated", stats.Reasons[bpf.StatTruncated], "malformed", stats.Reasons[bpf.StatMalformed],
		"unsupported", stats.Reasons[bpf.StatUnsupported], "sampled_out", stats.Reasons[bpf.StatSampledOut],
		"duplicate", stats.Reasons[bpf.StatDuplicate],
		"no_l4", stats.Reasons[bpf.StatNoL4])
	return err
}

// offlineUptimeLead places the exporter's boot, the origin of v5/v9
// sysUptime times, this long before the capture's first frame: a flow
// starting there would otherwise have FIRST_SWITCHED 0, which tshark and
// nfdump show as 1970.
const offlineUptimeLead = time.Second

// Replay is RunOffline without the closing log line; it returns what it
// counted.
func Replay(ctx context.Context, cfg *Config, log *slog.Logger) (OfflineStats, error) {
	var stats OfflineStats
	capture, err := probe.OpenCapture(cfg.ReadFile)
	if err != nil {
		return stats, fmt.Errorf("-r: %w", err)
	}
	defer capture.Close()
	first, err := capture.Next()
	if errors.Is(err, io.EOF) {
		log.Warn("capture holds no packets", "file", cfg.ReadFile)
		return stats, nil
	}
	if err != nil {
		return stats, fmt.Errorf("-r: %w", err)
	}

	clock := cache.NewCaptureClock(first.Timestamp)
	table, err := cache.NewTable(cfg.Cache, clock)
	if err != nil {
		return stats, err
	}
	boot := first.Timestamp.Add(-offlineUptimeLead)
	pipe, err := newPipeline(cfg, log, boot, clock.Now, mappedInterfaces(cfg.Probe.InterfaceMap))
	if err != nil {
		return stats, err
	}
	source := probe.NewFrameSource(cfg.Probe)
	var readErr error
	packets := func(yield func(time.Time, cache.Delta) bool) {
		for f := first; ; {
			// Every frame moves the clock, as time passes live.
			s := source.Sample(f)
			if !yield(f.Timestamp, s.Delta) {
				return
			}
			// Replay has expired what ended before this packet and
			// merged it: the classifier sees it in its new record.
			if pipe.apps != nil {
				pipe.apps.Observe(s.Delta, s.Head, s.PayloadLen)
			}
			if f, readErr = capture.Next(); readErr != nil {
				if errors.Is(readErr, io.EOF) {
					readErr = nil
				}
				return
			}
			if ctx.Err() != nil {
				readErr = fmt.Errorf("interrupted after %d frames: %w", source.Frames, ctx.Err())
				return
			}
		}
	}
	replayErr := cache.Replay(table, clock, packets, pipe.export)
	stats.Frames, stats.Reasons, stats.Cache = source.Frames, source.Reasons, table.Stats()

	// Sending what is queued must not hang on a stuck collector.
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	closeErr := pipe.close(closeCtx)
	return stats, errors.Join(readErr, replayErr, closeErr)
}
