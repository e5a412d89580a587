package cache

// The IP packet size distribution in Cisco's buckets. Each bucket is named
// by its upper bound: 1-32, then 32-byte steps to 576 (64 holds 33–64 …
// 576 holds 545–576), 1024 holds 577–1024, then 512-byte steps to 4608.
// Cisco stops at 4608; spanflow adds one bucket for larger (jumbo) packets
// instead of hiding them in the last one.
//
// A Delta carries sums, not per-packet sizes, so the table files a delta's
// packets under its mean size (Bytes/Packets). Offline every delta is one
// packet and the distribution is exact; live a delta sums a flow's
// packets over one harvest interval, so a flow mixing full-size data and
// small ACKs in one interval lands in its mean's bucket. The XDP program
// would need per-packet histogram counters to do better.

// NumSizeBuckets is the number of size buckets (Cisco's 26 plus >4608).
const NumSizeBuckets = 27

// SizeBucketNames are the column headings, as the router prints them.
var SizeBucketNames = [NumSizeBuckets]string{
	"1-32", "64", "96", "128", "160", "192", "224", "256", "288", "320",
	"352", "384", "416", "448", "480", "512", "544", "576", "1024", "1536",
	"2048", "2560", "3072", "3584", "4096", "4608", ">4608",
}

// SizeBucket returns the bucket of an IP packet of size bytes.
func SizeBucket(size uint64) int {
	switch {
	case size <= 32:
		return 0
	case size <= 576:
		return int((size - 1) / 32)
	case size <= 1024:
		return 18
	case size <= 4608:
		return 18 + int((size-1024+511)/512)
	default:
		return NumSizeBuckets - 1
	}
}
