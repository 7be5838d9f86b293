//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// currentNetns is the netns argument that means "the namespace netexec was started in".
const currentNetns = "-"

// netnsPath turns a netns argument into a path: a bare NAME is /run/netns/NAME (as `ip netns`
// names them), anything with a slash is taken as it is (e.g. /proc/PID/ns/net).
func netnsPath(arg string) string {
	if strings.Contains(arg, "/") {
		return arg
	}
	return "/run/netns/" + arg
}

// checkNetns fails early, with a clear message, when the namespace cannot be opened.
func checkNetns(arg string) error {
	if arg == currentNetns {
		return nil
	}
	f, err := os.Open(netnsPath(arg))
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", arg, err)
	}
	return f.Close()
}

func setns(fd uintptr) error {
	return unix.Setns(int(fd), unix.CLONE_NEWNET)
}

// errStuck means the thread could not return to its original namespace: it stays locked, so
// the runtime ends it when its goroutine exits, and the caller must not go on on it.
type errStuck struct{ err error }

func (e errStuck) Error() string {
	return "cannot return to the original network namespace: " + e.err.Error()
}

// isStuck says whether err left the calling goroutine on a thread in another namespace.
func isStuck(err error) bool {
	var stuck errStuck
	return errors.As(err, &stuck)
}

// inNetns runs create on a locked OS thread inside the network namespace arg ("-": the
// current one), then moves the thread back. Sockets belong to the namespace they are created
// in, so create makes its sockets there, and they keep working from any thread afterwards.
// Nothing else may run on the thread meanwhile: create must not start goroutines that make
// sockets (net/http's Transport dials on its own goroutines; dial by hand instead).
func inNetns(arg string, create func() error) error {
	if arg == currentNetns {
		return create()
	}
	target, err := os.Open(netnsPath(arg))
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", arg, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	// Opened after locking: the namespace of this very thread.
	original, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("own network namespace: %w", err)
	}
	defer original.Close()
	if err := setns(target.Fd()); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace %s: %w", arg, err)
	}
	createErr := create()
	if err := setns(original.Fd()); err != nil {
		return errStuck{err}
	}
	runtime.UnlockOSThread()
	return createErr
}
