package benchprog

// The committed *_bpfel.{go,o} are these commands' output; `make generate`
// reruns them and scripts/check-generated.sh fails when they differ from
// what the C source gives. The flow_* objects compile ../xdp.c itself with
// one helper call substituted, so they follow the real program.
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux baseline baseline.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux minimal minimal.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux minimalWidekey minimal_widekey.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux flowNoclock flow_noclock.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux flowDirect flow_direct.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux flowNomap flow_nomap.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux nextflow nextflow.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target bpfel -tags linux LiveGen livegen.c -- -I/usr/include/x86_64-linux-gnu
