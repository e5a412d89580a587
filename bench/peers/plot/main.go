// Command plot draws bench/results/peers.png from the peer benchmark's
// peers.json: for each mix, the packets each probe accounted for against
// the rate offered, and what capturing cost per million packets (the
// probe's processes plus the capture interface's NAPI thread, where
// spanflow's XDP program and the others' packet copies run).
//
// It is a module of its own so that the plotting library stays out of
// spanflow's go.mod. Usage: go run . -in peers.json -out peers.png
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"log"
	"os"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// run is the part of bench/peers.Result drawn here.
type run struct {
	Mix, Probe         string
	OfferedPPS         float64
	PacketsPct         float64
	SteadyCPU, NAPICPU float64
	Sent               struct{ Packets float64 }
}

var colors = map[string]color.Color{
	"spanflow":  color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"softflowd": color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	"pmacctd":   color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// rateTicks labels the rate axis in whole k packets/s.
type rateTicks struct{}

func (rateTicks) Ticks(min, max float64) []plot.Tick {
	step := 100.0
	for max/step > 8 {
		step *= 2
	}
	var ticks []plot.Tick
	for v := 0.0; v <= max; v += step / 2 {
		t := plot.Tick{Value: v}
		if int(v/(step/2))%2 == 0 {
			t.Label = fmt.Sprintf("%.0f", v)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

func main() {
	in := flag.String("in", "peers.json", "the benchmark's results")
	out := flag.String("out", "peers.png", "the PNG to write")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var rep struct{ Runs []run }
	if err := json.Unmarshal(b, &rep); err != nil {
		log.Fatal(err)
	}
	var mixes, probes []string
	for _, r := range rep.Runs {
		if !slices.Contains(mixes, r.Mix) {
			mixes = append(mixes, r.Mix)
		}
		if !slices.Contains(probes, r.Probe) {
			probes = append(probes, r.Probe)
		}
	}
	if len(mixes) == 0 {
		log.Fatal("no runs in ", *in)
	}

	rows := [][]*plot.Plot{make([]*plot.Plot, len(mixes)), make([]*plot.Plot, len(mixes))}
	for i, mix := range mixes {
		acc, cpu := plot.New(), plot.New()
		acc.Title.Text = mix
		acc.X.Label.Text, acc.Y.Label.Text = "offered, k packets/s", "packets accounted, %"
		acc.Y.Min, acc.Y.Max = 0, 105
		cpu.X.Label.Text, cpu.Y.Label.Text = "offered, k packets/s", "probe + NAPI CPU s per M packets"
		cpu.Y.Min = 0
		for _, probe := range probes {
			var pa, pc plotter.XYs
			for _, r := range rep.Runs {
				if r.Mix == mix && r.Probe == probe && r.Sent.Packets > 0 {
					x := r.OfferedPPS / 1000
					pa = append(pa, plotter.XY{X: x, Y: r.PacketsPct})
					pc = append(pc, plotter.XY{X: x, Y: (r.SteadyCPU + r.NAPICPU) / (r.Sent.Packets / 1e6)})
				}
			}
			for _, xy := range []struct {
				p   *plot.Plot
				pts plotter.XYs
			}{{acc, pa}, {cpu, pc}} {
				slices.SortFunc(xy.pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
				line, points, err := plotter.NewLinePoints(xy.pts)
				if err != nil {
					log.Fatal(err)
				}
				line.Color, points.Color = colors[probe], colors[probe]
				line.Width = vg.Points(1.5)
				xy.p.Add(line, points)
				if i == 0 && xy.p == acc {
					xy.p.Legend.Add(probe, line, points)
				}
			}
		}
		acc.X.Min, cpu.X.Min = 0, 0
		acc.X.Tick.Marker, cpu.X.Tick.Marker = rateTicks{}, rateTicks{}
		acc.Legend.Top, acc.Legend.Left = false, true
		acc.Legend.XOffs, acc.Legend.YOffs = vg.Points(10), vg.Points(40)
		rows[0][i], rows[1][i] = acc, cpu
	}

	img := vgimg.New(vg.Points(float64(330*len(mixes))), vg.Points(620))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: len(mixes), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(rows, tiles, dc)
	for r := range rows {
		for c := range rows[r] {
			rows[r][c].Draw(canvases[r][c])
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("plot: wrote", *out)
}
