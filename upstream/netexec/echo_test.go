package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEchoAnswersLikeAgnhost(t *testing.T) {
	s := startEcho(t)
	port := freePort(t, "127.0.0.1")
	if got := s.send(fmt.Sprintf("add pod-a - 127.0.0.1 %d %d", port, port)); got != "ok pod-a" {
		t.Fatalf("add: %q", got)
	}
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	status, body, _ := httpAnswer(t, address, "/hostname")
	if status != http.StatusOK || body != "pod-a" {
		t.Errorf("/hostname: %d %q, want 200 \"pod-a\" (no newline)", status, body)
	}
	status, body, local := httpAnswer(t, address, "/clientip")
	if status != http.StatusOK || body != local {
		t.Errorf("/clientip: %d %q, want the client's ip:port %q", status, body, local)
	}
	if _, body, _ := httpAnswer(t, address, "/healthz"); body != "ok" {
		t.Errorf("/healthz: %q", body)
	}
	if got := udpAnswer(t, address, "hostname"); got != "pod-a" {
		t.Errorf("udp hostname: %q", got)
	}
	if got := s.send("del pod-a"); got != "ok pod-a" {
		t.Fatalf("del: %q", got)
	}
	if _, err := net.DialTimeout("tcp", address, time.Second); err == nil {
		t.Error("the listener is still open after del")
	}
	if code := s.stop(); code != 0 {
		t.Errorf("exit code at EOF: %d", code)
	}
}

func TestEchoContentTypeIsText(t *testing.T) {
	srv := &http.Server{Handler: echoHandler("p")}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	resp, err := http.Get("http://" + l.Addr().String() + "/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestEchoCommandErrors(t *testing.T) {
	s := startEcho(t)
	port := freePort(t, "127.0.0.1")
	add := fmt.Sprintf("add p - 127.0.0.1 %d %d", port, port)
	cases := []struct{ command, want string }{
		{"bogus p", "error p unknown command \"bogus\" (expected add or del)"},
		{"add p - 127.0.0.1 80", "error p expected `add <pod> <netns-path> <ip> <tcp-port> <udp-port>`"},
		{"add p - not-an-ip 80 80", "error p address \"not-an-ip\": expected an IP address"},
		{"add p - 127.0.0.1 0 80", "error p port \"0\": expected 1-65535"},
		{"add p - 127.0.0.1 80 99999", "error p port \"99999\": expected 1-65535"},
		{"add p /nonexistent/netns 127.0.0.1 80 80", "error p network namespace /nonexistent/netns: open /nonexistent/netns: no such file or directory"},
		{"del nobody", "error nobody no pod nobody"},
		{"del", "error - expected `del <pod>`"},
		{add, "ok p"},
		{add, "error p pod p already has listeners (del it first)"},
	}
	for _, c := range cases {
		if got := s.send(c.command); got != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.command, got, c.want)
		}
	}
	// A port another pod holds: the error names the address.
	if got := s.send(fmt.Sprintf("add q - 127.0.0.1 %d %d", port, port)); !strings.HasPrefix(got, "error q listen tcp 127.0.0.1:") || !strings.Contains(got, "address already in use") {
		t.Errorf("busy port: %q", got)
	}
	// Blank lines are no commands; the server keeps going.
	if got := s.send("\ndel p"); got != "ok p" {
		t.Errorf("after a blank line: %q", got)
	}
	if code := s.stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// Hundreds of pods in one process: every one answers its own name.
func TestEchoManyPods(t *testing.T) {
	s := startEcho(t)
	const pods = 600
	port := freePort(t, "127.0.0.1")
	addresses := make([]string, pods)
	for i := 0; i < pods; i++ {
		// The whole of 127.0.0.0/8 is loopback on Linux: one address per pod, one port.
		ip := fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
		addresses[i] = net.JoinHostPort(ip, strconv.Itoa(port))
		name := fmt.Sprintf("pod-%d", i)
		if got := s.send(fmt.Sprintf("add %s - %s %d %d", name, ip, port, port)); got != "ok "+name {
			t.Fatalf("add %s: %q", name, got)
		}
	}
	for i, address := range addresses {
		if _, body, _ := httpAnswer(t, address, "/hostname"); body != fmt.Sprintf("pod-%d", i) {
			t.Fatalf("%s answered %q", address, body)
		}
		if i%50 == 0 {
			if got := udpAnswer(t, address, "hostname"); got != fmt.Sprintf("pod-%d", i) {
				t.Fatalf("udp %s answered %q", address, got)
			}
		}
	}
	if code := s.stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	// EOF closed every listener.
	if _, err := net.DialTimeout("tcp", addresses[0], time.Second); err == nil {
		t.Error("listeners survive stdin EOF")
	}
}
