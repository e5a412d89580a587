// Package cache is spanflow's authoritative flow table: it merges the
// datapath's Deltas into flows, ages them with Cisco's timers, pairs
// directions on request and hands expired Records, each with its end
// reason, to the exporters. It never imports probe or exporter.
package cache
