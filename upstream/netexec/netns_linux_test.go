//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// newNetns makes a network namespace with its loopback up, removed at the end of the test.
// Skips without root or `ip` (fails instead when TOPO_REQUIRE_NETNS=1, as CI sets).
func newNetns(t *testing.T) string {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("TOPO_REQUIRE_NETNS") == "1" {
			t.Fatalf("TOPO_REQUIRE_NETNS=1 but %s", why)
		}
		t.Skipf("needs root and ip: %s", why)
	}
	if os.Geteuid() != 0 {
		skip("not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip("no ip binary")
	}
	name := fmt.Sprintf("topo-netexec-%d-%d", os.Getpid(), time.Now().UnixNano()%1000000)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		skip(fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	return name
}

func ownNetns(t *testing.T) string {
	t.Helper()
	link, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return link
}

func TestInNetnsReturnsTheThread(t *testing.T) {
	ns := newNetns(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := ownNetns(t)
	var inside string
	if err := inNetns(ns, func() error { inside = ownNetns(t); return nil }); err != nil {
		t.Fatal(err)
	}
	if inside == before {
		t.Errorf("create ran in the original namespace %s", before)
	}
	if after := ownNetns(t); after != before {
		t.Errorf("thread left in %s, was %s", after, before)
	}
	if err := inNetns(ns, func() error { return fmt.Errorf("boom") }); err == nil || err.Error() != "boom" {
		t.Errorf("create's error: %v", err)
	}
	if after := ownNetns(t); after != before {
		t.Errorf("after an error: thread left in %s", after)
	}
}

// Listeners live in the pod's namespace only; probe and get reach them from inside it.
func TestEchoProbeGetInNetns(t *testing.T) {
	ns := newNetns(t)
	s := startEcho(t)
	port := freePort(t, "127.0.0.1") // free on the host: a host answer would be a leak
	for _, c := range []struct{ pod, netns, ip string }{
		{"pod-by-name", ns, "127.0.0.1"},
		{"pod-by-path", "/run/netns/" + ns, "127.0.0.2"},
	} {
		if got := s.send(fmt.Sprintf("add %s %s %s %d %d", c.pod, c.netns, c.ip, port, port)); got != "ok "+c.pod {
			t.Fatalf("add: %q", got)
		}
	}
	target := fmt.Sprintf("127.0.0.1:%d", port)
	if conn, err := net.DialTimeout("tcp", target, time.Second); err == nil {
		_ = conn.Close()
		t.Fatal("the pod's listener answers in the host namespace")
	}
	var out, errOut bytes.Buffer
	if code := runProbe([]string{"--netns", ns, "--target", target, "--count", "12"}, &out, &errOut); code != 0 {
		t.Fatalf("probe: exit %d: %s", code, errOut.String())
	}
	got := lines(out.String())
	if len(got) != 12 || got[0] != "answer 1 pod-by-name" || got[11] != "answer 12 pod-by-name" {
		t.Errorf("probe tcp: %q", got)
	}
	out.Reset()
	udpTarget := fmt.Sprintf("127.0.0.2:%d", port)
	if code := runProbe([]string{"--netns", "/run/netns/" + ns, "--target", udpTarget, "--count", "3", "--protocol", "udp"}, &out, &errOut); code != 0 || out.String() != "answer 1 pod-by-path\nanswer 2 pod-by-path\nanswer 3 pod-by-path\n" {
		t.Errorf("probe udp: exit %d %q %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := runGet([]string{"--netns", ns, "--url", "http://" + udpTarget + "/hostname"}, &out, &errOut); code != 0 || out.String() != "pod-by-path" {
		t.Errorf("get: exit %d %q %s", code, out.String(), errOut.String())
	}
	// From the host namespace nothing answers: every request fails as "no route".
	out.Reset()
	if code := runProbe([]string{"--netns", "-", "--target", target, "--count", "40"}, &out, &errOut); code != 0 || !strings.HasSuffix(out.String(), "answer-stop 16 no-route\n") {
		t.Errorf("probe from the host: %q", out.String())
	}
	for _, pod := range []string{"pod-by-name", "pod-by-path"} {
		if got := s.send("del " + pod); got != "ok "+pod {
			t.Errorf("del: %q", got)
		}
	}
	if code := s.stop(); code != 0 {
		t.Errorf("echo exit %d", code)
	}
}

// forward listens in the namespace and dials in the one it started in.
func TestForwardFromNetnsToHost(t *testing.T) {
	ns := newNetns(t)
	hostServer := httpServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "host-api") })
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	startForward(t, "--netns", ns, "--listen", listen, "--to", hostServer)
	var out, errOut bytes.Buffer
	if code := runGet([]string{"--netns", ns, "--url", "http://" + listen + "/"}, &out, &errOut); code != 0 || out.String() != "host-api" {
		t.Errorf("through the forward: exit %d %q %s", code, out.String(), errOut.String())
	}
	// The forward's port is inside the namespace only.
	if conn, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		_ = conn.Close()
		t.Error("the forward listens in the host namespace")
	}
}
