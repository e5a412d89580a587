package cache

import (
	"cmp"
	"slices"
	"sync"

	"github.com/spanflow/spanflow/cache/app"
)

// AppTally counts the exported records per application since start: the
// data of `show cache`'s application table, `show applications` and the
// per-application metrics. Flows are one-way flows, as the protocol table
// counts them (a biflow with packets both ways is two).
//
// Memory is bounded: one row per nDPI 4.2 name (an ID without a name
// counts as Unknown) and at most MaxServerNames server names per row.
// The zero value is ready; it is safe for concurrent use.
type AppTally struct {
	mu   sync.Mutex
	rows map[app.ID]*appRow
}

// MaxServerNames is how many server names an application row tracks. The
// names are counted with the Space-Saving algorithm: a new name when the
// row is full replaces the least counted one and inherits its count, so
// a name seen in more than 1/MaxServerNames of the row's named flows is
// never lost, and a count is high by at most the count it inherited.
const MaxServerNames = 32

type appRow struct {
	AppStats
	servers map[string]uint64
}

// AppStats is one application's row.
type AppStats struct {
	ID             app.ID // nDPI's number, 0 for Unknown (and a Total row)
	Name           string
	Flows          uint64 // one-way flows exported
	Packets, Bytes uint64
	// Flows by how the application was known; an Unknown row's flows
	// are in none of them.
	Payload, PortGuess, Protocol uint64
	// Active is the flows now in the table (entries, so a biflow is
	// one); only `show applications` fills it.
	Active int `json:",omitempty"`
	// Servers are the most frequent server names (TLS/QUIC SNI, HTTP
	// Host, DNS query name), most flows first.
	Servers []ServerCount `json:",omitempty"`
}

// ServerCount is a server name and the one-way flows that named it.
type ServerCount struct {
	Name  string
	Flows uint64
}

// named holds the IDs nDPI 4.2 names: the bound on the tally's rows.
var named = func() map[app.ID]bool {
	m := map[app.ID]bool{}
	for _, e := range app.All() {
		m[e.ID] = true
	}
	return m
}()

// Add counts recs, whose applications are set.
func (t *AppTally) Add(recs []Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rows == nil {
		t.rows = map[app.ID]*appRow{}
	}
	for i := range recs {
		r := &recs[i]
		flows := uint64(0)
		if r.Packets > 0 {
			flows++
		}
		if r.RevPackets > 0 {
			flows++
		}
		id := r.App()
		if !named[id] {
			id = app.Unknown
		}
		row := t.rows[id]
		if row == nil {
			row = &appRow{AppStats: AppStats{ID: id, Name: id.String()}}
			t.rows[id] = row
		}
		row.Flows += flows
		row.Packets += r.Packets + r.RevPackets
		row.Bytes += r.Bytes + r.RevBytes
		if id != app.Unknown {
			switch r.AppKind {
			case AppPayload:
				row.Payload += flows
			case AppPortGuess:
				row.PortGuess += flows
			case AppProtocol:
				row.Protocol += flows
			}
		}
		if r.AppServer != "" && flows > 0 {
			row.countServer(r.AppServer, flows)
		}
	}
}

func (r *appRow) countServer(name string, n uint64) {
	if r.servers == nil {
		r.servers = map[string]uint64{}
	}
	if _, ok := r.servers[name]; ok || len(r.servers) < MaxServerNames {
		r.servers[name] += n
		return
	}
	least, low := "", uint64(0)
	for s, c := range r.servers {
		if least == "" || c < low || c == low && s < least {
			least, low = s, c
		}
	}
	delete(r.servers, least)
	r.servers[name] = low + n
}

// Snapshot returns every application with flows, most bytes first (then
// by name), each with its servers most named first, at most servers of
// them (0: none).
func (t *AppTally) Snapshot(servers int) []AppStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]AppStats, 0, len(t.rows))
	for _, row := range t.rows {
		s := row.AppStats
		if servers > 0 {
			for name, n := range row.servers {
				s.Servers = append(s.Servers, ServerCount{name, n})
			}
			slices.SortFunc(s.Servers, func(a, b ServerCount) int {
				return cmp.Or(cmp.Compare(b.Flows, a.Flows), cmp.Compare(a.Name, b.Name))
			})
			if len(s.Servers) > servers {
				s.Servers = s.Servers[:servers]
			}
		}
		out = append(out, s)
	}
	SortApps(out)
	return out
}

// SortApps orders rows most bytes first, then by name.
func SortApps(rows []AppStats) {
	slices.SortFunc(rows, func(a, b AppStats) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Name, b.Name))
	})
}

// ActiveApps counts the flows now in the table by application, as appOf
// names them; the counts sum to Stats.Active (entries: a biflow is one).
// It costs an AppOf call a flow, with the table locked.
func (t *Table) ActiveApps(appOf AppOf) map[app.ID]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[app.ID]int{}
	for _, tm := range t.heap {
		id := appOf(t.slab.flow(tm.idx).key).ID
		if !named[id] {
			id = app.Unknown
		}
		out[id]++
	}
	return out
}
