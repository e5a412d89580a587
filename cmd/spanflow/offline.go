package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/probe"
)

// offlineStats counts frames by the datapath's outcome reasons; cache is
// the flow table's statistics after the final flush.
type offlineStats struct {
	frames  uint64
	reasons [bpf.StatMax]uint64
	cache   cache.Stats
}

// runOffline reads a capture file through the reference parser (the
// datapath's twin) into the same flow cache, the capture's timestamps
// driving the clock, flushes at the end and exports or prints the
// records. A capture cut short is exported as far as it reads, then
// reported.
func runOffline(ctx context.Context, cfg *Config, log *slog.Logger) error {
	stats, err := processCapture(ctx, cfg, log)
	if stats.frames == 0 {
		return err
	}
	log.Info("capture done", "file", cfg.ReadFile, "frames", stats.frames,
		"accounted", stats.reasons[bpf.StatAccounted], "not_ip", stats.reasons[bpf.StatNotIP],
		"truncated", stats.reasons[bpf.StatTruncated], "malformed", stats.reasons[bpf.StatMalformed],
		"unsupported", stats.reasons[bpf.StatUnsupported], "sampled_out", stats.reasons[bpf.StatSampledOut],
		"no_l4", stats.reasons[bpf.StatNoL4])
	return err
}

func processCapture(ctx context.Context, cfg *Config, log *slog.Logger) (offlineStats, error) {
	return replayCapture(ctx, cfg, log, stdout)
}

// replayCapture is processCapture with --print going to out (tests read
// the records from there).
func replayCapture(ctx context.Context, cfg *Config, log *slog.Logger, out io.Writer) (offlineStats, error) {
	var stats offlineStats
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
	table, err := cache.NewTable(cfg.cacheConfig(), clock)
	if err != nil {
		return stats, err
	}
	pipe, err := newPipeline(cfg, log, first.Timestamp, clock.Now, nil)
	if err != nil {
		return stats, err
	}
	if pipe.printer != nil {
		pipe.printer = newRecordPrinter(out, cfg.Print)
	}
	sample := newSampler(cfg)
	var readErr error
	packets := func(yield func(time.Time, cache.Delta) bool) {
		for f := first; ; {
			stats.frames++
			// Every frame moves the clock, as time passes live: a frame
			// that counts nothing yields an empty Delta, which Merge ignores.
			var d cache.Delta
			if sample() {
				p := probe.ParseFrame(f.LinkType, f.Data)
				stats.reasons[p.Reason]++
				if p.Reason == bpf.StatAccounted {
					if p.NoL4 {
						stats.reasons[bpf.StatNoL4]++
					}
					probe.MaskKey(&p.Key, cfg.options.KeyFields)
					ns := uint64(f.Timestamp.UnixNano())
					d = cache.Delta{Key: p.Key, Packets: 1, Bytes: p.IPBytes, FirstNs: ns, LastNs: ns, TCPFlags: p.TCPFlags}
				}
			} else {
				stats.reasons[bpf.StatSampledOut]++
			}
			if !yield(f.Timestamp, d) {
				return
			}
			if f, readErr = capture.Next(); readErr != nil {
				if errors.Is(readErr, io.EOF) {
					readErr = nil
				}
				return
			}
			if ctx.Err() != nil {
				readErr = fmt.Errorf("interrupted after %d frames: %w", stats.frames, ctx.Err())
				return
			}
		}
	}
	replayErr := cache.Replay(table, clock, packets, pipe.export)
	stats.cache = table.Stats()

	// Sending what is queued must not hang on a stuck collector.
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	closeErr := pipe.close(closeCtx)
	return stats, errors.Join(readErr, replayErr, closeErr)
}

// newSampler applies --sample to frames as the datapath does to packets.
func newSampler(cfg *Config) func() bool {
	n := uint64(cfg.options.SampleRate)
	switch cfg.options.SampleMode {
	case bpf.SampleDeterministic:
		var count uint64
		return func() bool { count++; return count%n == 0 }
	case bpf.SampleRandom:
		return func() bool { return rand.Uint64N(n) == 0 }
	}
	return func() bool { return true }
}
