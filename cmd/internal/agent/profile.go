package agent

import (
	"log/slog"
	"os"
	"runtime/pprof"
)

// profileEnv names a file to write a CPU profile of the whole run to, for
// the developers' measurements (bench-peers runs the binary as operators
// do, so a flag of its own would be one more thing to explain).
const profileEnv = "SPANFLOW_CPUPROFILE"

// startProfile starts the CPU profile profileEnv asks for and returns
// what stops it; it logs and goes on without one when it cannot start.
func startProfile(log *slog.Logger) (stop func()) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		log.Warn("no CPU profile", "env", profileEnv, "err", err)
		return func() {}
	}
	log.Info("writing a CPU profile", "file", path)
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
