// Package flowprint renders flow records for people and scripts: the
// nfdump-like text and the JSON that --print writes and `spanflow collect`
// prints. It reads Records (the end of NIC → map → Delta → Record), never
// changes them.
package flowprint
