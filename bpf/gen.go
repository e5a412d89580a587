package bpf

// The committed xdp_bpfel.{go,o} are this command's output; `make generate`
// reruns it and CI fails when they differ from what the C source gives.
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux -type flow_key -type flow_value -type flow_direction -type stat_value -type app_sample -type app_step -type app_sample_flag -type route_out -type ifmap_dir -type decap -type tunnel_kind -type slot_fill -type slot_entry -type flow_mark xdp xdp.c -- -I/usr/include/x86_64-linux-gnu
