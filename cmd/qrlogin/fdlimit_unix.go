//go:build unix

package main

import "syscall"

// openFileLimit is the process's limit on open files (RLIMIT_NOFILE, soft;
// Go raises it to the hard limit at start-up), or 0 if unknown.
func openFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return int(min(r.Cur, 1<<24))
}
