package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func fixed(pod string, err error) func(probeConfig) (string, error) {
	return func(probeConfig) (string, error) { return pod, err }
}

func runFake(count, concurrency int, request func(probeConfig) (string, error)) []string {
	var out bytes.Buffer
	probe(probeConfig{count: count, concurrency: concurrency}, &out, request)
	return lines(out.String())
}

func TestAnswerLines(t *testing.T) {
	cases := []struct {
		pod  string
		err  error
		want string
	}{
		{"echo-w-1", nil, "answer 3 echo-w-1"},
		{"echo-w-1\n", nil, "answer 3 echo-w-1"},
		{"", nil, "answer 3 FAILED rc=0"},
		{"two\nlines", nil, "answer 3 two lines"},
		{"", failure{rcCouldntConnect}, "answer 3 FAILED rc=7"},
		{"", failure{rcTimeout}, "answer 3 FAILED rc=28"},
		{"", io.EOF, "answer 3 FAILED rc=35"},
	}
	for _, c := range cases {
		if got := answerLine(3, c.pod, c.err); got != c.want {
			t.Errorf("answerLine(%q, %v) = %q, want %q", c.pod, c.err, got, c.want)
		}
	}
}

// The kind client script's rule: after a batch, nothing answered and ≥ 16 "no route"
// failures stops the probe.
func TestProbeStopsWhenNothingRoutes(t *testing.T) {
	got := runFake(100, 8, fixed("", failure{rcCouldntConnect}))
	if len(got) != 17 || got[16] != "answer-stop 16 no-route" {
		t.Fatalf("got %d lines, last %q", len(got), got[len(got)-1])
	}
	for i, line := range got[:16] {
		if line != fmt.Sprintf("answer %d FAILED rc=7", i+1) {
			t.Errorf("line %d: %q", i, line)
		}
	}
	// With a batch of 5 the check comes after 20 requests.
	got = runFake(100, 5, fixed("", failure{rcTimeout}))
	if got[len(got)-1] != "answer-stop 20 no-route" {
		t.Errorf("concurrency 5: last line %q", got[len(got)-1])
	}
}

func TestProbeDoesNotStopWhenSomethingAnswers(t *testing.T) {
	var n atomic.Int32
	oneAnswer := func(probeConfig) (string, error) {
		if n.Add(1) == 5 {
			return "echo-a", nil
		}
		return "", failure{rcCouldntConnect}
	}
	got := runFake(40, 8, oneAnswer)
	if len(got) != 40 || strings.HasPrefix(got[len(got)-1], "answer-stop") {
		t.Fatalf("stopped although a pod answered: %d lines", len(got))
	}
	answered := 0
	for _, line := range got {
		if strings.HasSuffix(line, " echo-a") {
			answered++
		}
	}
	if answered != 1 {
		t.Errorf("%d answers", answered)
	}
	// Client errors (an empty answer: rc=0) are no "no route": no early stop.
	if got := runFake(40, 8, fixed("", nil)); len(got) != 40 {
		t.Errorf("stopped on client errors: %d lines", len(got))
	}
	// Fewer requests than a batch, and a last partial batch, keep their numbers in order.
	got = runFake(11, 8, fixed("p", nil))
	for i, line := range got {
		if line != fmt.Sprintf("answer %d p", i+1) {
			t.Fatalf("line %d: %q", i, line)
		}
	}
}

func TestNoRouteCodesMatchKind(t *testing.T) {
	want := []int{7, 28, 52, 56, 35}
	if fmt.Sprint(noRouteCodes) != fmt.Sprint(want) {
		t.Errorf("noRouteCodes %v, want %v (NO_ROUTE_CODES)", noRouteCodes, want)
	}
}

// serve accepts connections on a fresh loopback listener and hands each to handle.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().String()
}

func probeCode(t *testing.T, target, protocol string) (string, int) {
	t.Helper()
	c := probeConfig{netns: "-", target: target, count: 1, concurrency: 1,
		timeout: 500 * time.Millisecond, connectTimeout: 500 * time.Millisecond, protocol: protocol}
	pod, err := probeOnce(c)
	if err == nil {
		return pod, -1
	}
	f, ok := err.(failure)
	if !ok {
		t.Fatalf("not a failure: %v", err)
	}
	return "", f.rc
}

func TestProbeFailureKindsAreCurlCodes(t *testing.T) {
	s := startEcho(t)
	port := freePort(t, "127.0.0.1")
	if got := s.send(fmt.Sprintf("add echo-1 - 127.0.0.1 %d %d", port, port)); got != "ok echo-1" {
		t.Fatal(got)
	}
	echo := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if pod, rc := probeCode(t, echo, "tcp"); pod != "echo-1" {
		t.Errorf("tcp echo: %q rc=%d", pod, rc)
	}
	if pod, rc := probeCode(t, echo, "udp"); pod != "echo-1" {
		t.Errorf("udp echo: %q rc=%d", pod, rc)
	}
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, "127.0.0.1")))
	// Read the request first: closing with it unread would send RST instead of FIN.
	empty := serve(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 1024)); _ = c.Close() })
	reset := serve(t, func(c net.Conn) {
		// Wait for the request, then abort: SO_LINGER 0 sends RST.
		_, _ = c.Read(make([]byte, 1024))
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	})
	silent := serve(t, func(c net.Conn) { time.Sleep(2 * time.Second); _ = c.Close() })
	garbage := serve(t, func(c net.Conn) {
		_, _ = c.Read(make([]byte, 1024))
		_, _ = io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n")
		_ = c.Close()
	})
	silentUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silentUDP.Close()
	cases := []struct {
		name, target, protocol string
		rc                     int
	}{
		{"refused", closed, "tcp", 7},
		{"empty reply", empty, "tcp", 52},
		{"reset", reset, "tcp", 56},
		{"no answer", silent, "tcp", 28},
		{"no HTTP", garbage, "tcp", 8},
		{"udp port unreachable", closed, "udp", 7},
		{"udp no answer", silentUDP.LocalAddr().String(), "udp", 28},
	}
	for _, c := range cases {
		if pod, rc := probeCode(t, c.target, c.protocol); rc != c.rc {
			t.Errorf("%s: rc=%d (answer %q), want rc=%d", c.name, rc, pod, c.rc)
		}
	}
	// The whole command: one answer line per request, in order.
	var out, errOut bytes.Buffer
	code := runProbe([]string{"--netns", "-", "--target", echo, "--count", "10", "--concurrency", "3"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for i, line := range lines(out.String()) {
		if line != fmt.Sprintf("answer %d echo-1", i+1) {
			t.Errorf("line %d: %q", i, line)
		}
	}
}

func TestProbeArguments(t *testing.T) {
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--target", "127.0.0.1:1", "--count", "1"}, 2, "needs --netns and --target"},
		{[]string{"--netns", "-", "--target", "127.0.0.1:1", "--count", "0"}, 2, "--count must be at least 1"},
		{[]string{"--netns", "-", "--target", "localhost:1", "--count", "1"}, 2, "expected IP:PORT"},
		{[]string{"--netns", "-", "--target", "127.0.0.1:1", "--count", "1", "--protocol", "sctp"}, 2, "expected tcp or udp"},
		{[]string{"--netns", "-", "--target", "127.0.0.1:1", "--count", "1", "--timeout", "0s"}, 2, "must be positive"},
		{[]string{"--netns", "-", "--target", "127.0.0.1:1", "--count", "1", "extra"}, 2, "unexpected argument"},
		{[]string{"--netns", "/nonexistent", "--target", "127.0.0.1:1", "--count", "1"}, 1, "network namespace /nonexistent"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := runProbe(c.args, &out, &errOut)
		if code != c.code || !strings.Contains(errOut.String(), c.err) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and %q", c.args, code, errOut.String(), out.String(), c.code, c.err)
		}
	}
}
