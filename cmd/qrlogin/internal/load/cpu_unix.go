//go:build unix

package load

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time this process has used so far, user and
// system, all threads (getrusage(2) RUSAGE_SELF), and whether it is known.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
