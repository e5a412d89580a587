package peers

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/spanflow/spanflow/bpf/benchprog"
)

// Return codes of the generator's programs.
const (
	xdpDrop   = 1
	xdpTX     = 3
	tcActOK   = 0
	tcActShot = 2
)

// LiveGen is livegen.c loaded: a sender that writes each frame from a
// sequence number, by xdp_livegen in live-frames mode where the kernel
// allows it, else by tc_livegen's clones (see bpf/benchprog/livegen.c).
type LiveGen struct {
	objs benchprog.LiveGenObjects
}

// State is the generator's state map: configuration and counters.
type State = benchprog.LiveGenGenState

// LoadLiveGen loads both programs.
func LoadLiveGen() (*LiveGen, error) {
	g := &LiveGen{}
	if err := benchprog.LoadLiveGenObjects(&g.objs, nil); err != nil {
		return nil, fmt.Errorf("load livegen: %w", err)
	}
	return g, nil
}

// Close unloads the programs.
func (g *LiveGen) Close() error { return g.objs.Close() }

// Reset starts a run of mix m from sequence number next; numbers from
// limit on are not sent.
func (g *LiveGen) Reset(m Mix, next, limit uint64) error {
	return g.objs.State.Put(uint32(0), State{Mix: uint32(m), Next: next, Limit: limit})
}

// State reads the configuration and counters.
func (g *LiveGen) State() (State, error) {
	var s State
	err := g.objs.State.Lookup(uint32(0), &s)
	return s, err
}

// RunOnce runs one of the programs (tc: tc_livegen) once on a zeroed
// 1,514-byte frame without sending anything, and returns its verdict and
// the frame it wrote.
func (g *LiveGen) RunOnce(tc bool) (uint32, []byte, error) {
	prog := g.objs.XdpLivegen
	if tc {
		prog = g.objs.TcLivegen
	}
	opts := ebpf.RunOptions{Data: make([]byte, 1514), DataOut: make([]byte, 4096)}
	ret, err := prog.Run(&opts)
	return ret, opts.DataOut, err
}

// xdpMD is struct xdp_md as BPF_PROG_RUN takes it for context.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Senders, as Send names them.
const (
	SenderLiveFrames = "xdp_livegen, live frames"
	SenderClone      = "tc_livegen, clone redirect"
)

// Send transmits the run set up by Reset out of interface ifindex, from
// the calling thread's network namespace, until d has passed or the limit
// is reached: as fast as the path takes frames when pps is 0, else paced
// at pps frames a second (runs of 256 frames, then a sleep until the
// sent count is due). It tries live frames first and falls back to clones
// when the kernel refuses them (EPERM where lockdown or an LSM forbids
// it, EINVAL before 5.18); it returns which sender ran. The calling
// thread is pinned to cpu meanwhile: the state's counters are not atomic,
// so every run must be on one CPU.
func (g *LiveGen) Send(ifindex, cpu int, pps float64, d time.Duration) (string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return "", err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return "", err
	}
	defer unix.SchedSetaffinity(0, &old)

	repeat := uint32(1 << 16)
	if pps > 0 {
		repeat = 256
	}
	// The template frame is full size: the programs resize it and write
	// every header byte themselves.
	sender, prog := SenderLiveFrames, g.objs.XdpLivegen
	opts := ebpf.RunOptions{
		Data:    make([]byte, 1514),
		Context: xdpMD{DataEnd: 1514, IngressIfindex: uint32(ifindex)},
		Repeat:  repeat,
		Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
	}
	start := time.Now()
	for time.Since(start) < d {
		_, err := prog.Run(&opts)
		if err != nil && sender == SenderLiveFrames && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL)) {
			sender, prog = SenderClone, g.objs.TcLivegen
			opts = ebpf.RunOptions{Data: make([]byte, 1514), Repeat: repeat}
			if err := g.setIfindex(ifindex); err != nil {
				return sender, err
			}
			continue
		}
		if err != nil {
			return sender, fmt.Errorf("%s: %w", sender, err)
		}
		st, err := g.State()
		if err != nil {
			return sender, err
		}
		if st.Next >= st.Limit {
			break
		}
		if pps > 0 {
			due := start.Add(time.Duration(float64(st.Sent) / pps * 1e9))
			time.Sleep(time.Until(due))
		}
	}
	return sender, nil
}

func (g *LiveGen) setIfindex(ifindex int) error {
	st, err := g.State()
	if err != nil {
		return err
	}
	st.Ifindex = uint32(ifindex)
	return g.objs.State.Put(uint32(0), st)
}
