// Package control is the unix socket between `spanflow show` and the running
// probe: one JSON request line in, the rendered answer out. It carries
// views of the data flow (NIC → map → Delta → Record → datagram →
// collector), never the flow data itself.
package control
