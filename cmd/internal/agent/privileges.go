package agent

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropPrivileges switches every thread to uid/gid; the attached program
// and the open map fds keep working. It also empties the capability
// bounding set and sets no_new_privs, so nothing the process might exec
// can gain root's capabilities back.
func dropPrivileges(uid, gid int) error {
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setgid(gid); err != nil {
		return err
	}
	// Shrinking the bounding set needs CAP_SETPCAP, which Setuid takes away.
	if err := dropBoundingSet(); err != nil {
		return err
	}
	if err := syscall.Setuid(uid); err != nil {
		return err
	}
	if err := prctlAllThreads(unix.PR_SET_NO_NEW_PRIVS, 1); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}

// dropBoundingSet drops every capability the kernel knows (it answers
// EINVAL past the last one) from every thread's bounding set.
func dropBoundingSet() error {
	for c := uintptr(0); ; c++ {
		err := prctlAllThreads(unix.PR_CAPBSET_DROP, c)
		if errors.Is(err, unix.EINVAL) && c > 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
}

// prctlAllThreads runs prctl on every thread: both attributes are per
// thread. The Go runtime can do so only without cgo (make build sets
// CGO_ENABLED=0).
func prctlAllThreads(option, arg uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, option, arg, 0)
	if errno == syscall.ENOTSUP {
		return errors.New("needs a binary built with CGO_ENABLED=0 (as make build does)")
	}
	if errno != 0 {
		return errno
	}
	return nil
}
