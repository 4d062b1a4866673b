//go:build !linux

package postgres

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist: keep-
// alive alone bounds a silent partition there.
func setUserTimeout(string, string, syscall.RawConn) error { return nil }
