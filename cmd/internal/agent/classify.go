package agent

import (
	"time"

	"github.com/spanflow/spanflow/cache"
	"github.com/spanflow/spanflow/cache/app"
	"github.com/spanflow/spanflow/exporter/ie"
	"github.com/spanflow/spanflow/probe/conversations"
)

// Classifier is the conversation classifier (package conversations) as
// the pipeline uses it: offline mode feeds it every packet, live the
// sample feed does (samples.go).
type Classifier struct {
	*conversations.Classifier
	feed *sampleFeed // live only: Label drains the ring first
}

// Label labels expired records, live with the ring drained first (see
// sampleFeed).
func (c *Classifier) Label(recs []cache.Record) {
	if c.feed == nil {
		c.Classifier.Label(recs)
		return
	}
	c.feed.label(func() { c.Classifier.Label(recs) })
}

// NewClassifier returns an empty Classifier.
func NewClassifier() *Classifier {
	return &Classifier{Classifier: conversations.New()}
}

// applicationRefresh is how often the application name table goes out
// again (Cisco's "option application-table timeout" defaults to 10
// minutes): its ~280 records fill about 20 datagrams, too many to resend
// with every 20-datagram template refresh.
const applicationRefresh = 10 * time.Minute

// applicationTable is the application options data v9 and IPFIX send with
// every template refresh, as Cisco NBAR does: every application nDPI 4.2
// names, under the applicationId records carry, so that collectors show
// names (nfdump %nbnam, pmacct class, Wireshark).
func applicationTable() []ie.Application {
	all := app.All()
	out := make([]ie.Application, 0, len(all))
	for _, e := range all {
		if e.ID == app.Unknown {
			continue
		}
		out = append(out, ie.Application{ID: cache.AppIDOf(e.ID), Name: e.Name, Description: e.Description})
	}
	return out
}
