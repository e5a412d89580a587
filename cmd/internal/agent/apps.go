package agent

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spanflow/spanflow/bpf"
	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
)

// appOf is the classifier's answer for flows still in the table, as the
// cache's views take it; nil when classification is off.
func (d *Agent) appOf() cache.AppOf {
	c := d.pipe.apps
	if c == nil {
		return nil
	}
	return func(k bpf.FlowKey) cache.AppLabel {
		v, _ := c.VerdictOf(k)
		l := cache.AppLabel{ID: v.App, Kind: cache.AppKind(v.Kind), Server: v.Server}
		if l.ID == app.Unknown {
			l.Kind = cache.AppUnknown
		}
		return l
	}
}

// counts reads the classifier's counters: conversations started,
// finished while fed (Classified), and kept now.
func (c *Classifier) counts() (conversations, finished uint64, kept int) {
	s := c.Stats()
	return s.Started, s.Classified, s.Kept
}

// applicationsView is `show applications`.
type applicationsView struct {
	Classifying bool      // false: classification is off, nothing below
	Since       time.Time // the counts are of the flows exported since
	// Applications: one row per application with flows exported or in
	// the table now, most bytes first.
	Applications []cache.AppStats
}

// serversShown bounds the server names a row lists: all in JSON are
// this many, the text prints fewer to stay readable.
const (
	serversShown     = 5
	serversShownText = 3
)

func (d *Agent) showApplications(w io.Writer, asJSON bool) error {
	v := applicationsView{Since: d.start}
	if appOf := d.appOf(); appOf != nil {
		v.Classifying = true
		v.Applications = d.pipe.tally.Snapshot(serversShown)
		active := d.table.ActiveApps(appOf)
		for i := range v.Applications {
			id := v.Applications[i].ID
			v.Applications[i].Active = active[id]
			delete(active, id)
		}
		for id, n := range active { // flows not exported yet
			v.Applications = append(v.Applications, cache.AppStats{ID: id, Name: id.String(), Active: n})
		}
		cache.SortApps(v.Applications)
	}
	if asJSON {
		return writeJSON(w, v)
	}
	if !v.Classifying {
		_, err := fmt.Fprintln(w, "Application classification is off: no applications to show.")
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Applications since %s (%s): flows exported (one-way), and flows in the table now\n",
		v.Since.UTC().Format(time.RFC3339), time.Since(v.Since).Round(time.Second))
	b.WriteString("Payload: named by their payload; Guessed: by a well-known port alone; the rest by IP protocol\n")
	const head = "%-21s%9s%9s%9s%12s%15s%8s  %s\n"
	fmt.Fprintf(&b, head, "Application", "Flows", "Payload", "Guessed", "Packets", "Bytes", "Active", "Top servers (flows)")
	sum := cache.AppStats{Name: "Total:"}
	for _, r := range v.Applications {
		writeAppRow(&b, r)
		sum.Flows += r.Flows
		sum.Payload += r.Payload
		sum.PortGuess += r.PortGuess
		sum.Packets += r.Packets
		sum.Bytes += r.Bytes
		sum.Active += r.Active
	}
	writeAppRow(&b, sum)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeAppRow(b *strings.Builder, r cache.AppStats) {
	servers := make([]string, 0, serversShownText)
	for i, s := range r.Servers {
		if i == serversShownText {
			break
		}
		servers = append(servers, fmt.Sprintf("%s (%d)", serverText(s.Name), s.Flows))
	}
	line := fmt.Sprintf("%-21s%9d%9d%9d%12d%15d%8d  %s", r.Name, r.Flows, r.Payload, r.PortGuess, r.Packets, r.Bytes, r.Active, strings.Join(servers, ", "))
	b.WriteString(strings.TrimRight(line, " "))
	b.WriteByte('\n')
}

// serverText is a server name as the text view prints it: quoted unless
// plain printable ASCII, since it comes off the wire.
func serverText(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' || name[i] == '"' {
			return strconv.Quote(name)
		}
	}
	return name
}
