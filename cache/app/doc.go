// Package app is the application table that flow records carry (the
// Record of NIC → map → Delta → Record → datagram → collector): one ID per
// application, numbered exactly as nDPI 4.2 numbers its protocols
// (ndpi_protocol_ids.h), with the names nDPI prints.
//
// Place in the data flow: probe/classify gives a flow a verdict whose
// application is an ID; cache.Record carries it; the v9/IPFIX exporters
// send it as IE 95 applicationId in RFC 6759 form under classification
// engine EngineNDPI, and the options template sends All() so collectors
// can name it. Reusing nDPI's numbers, rather than a numbering of our
// own, lets pmacct and ntopng, which already use them, resolve names
// without a mapping file.
//
// The package is a leaf: it imports only the standard library and knows
// nothing of packets or flows.
package app
