package main

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort returns a TCP and UDP port on ip that nothing listens on right now.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for tries := 0; tries < 50; tries++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err == nil {
			_ = u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// echoSession drives `netexec echo` through pipes, as the local backend does.
type echoSession struct {
	t      *testing.T
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	exited chan int
}

func startEcho(t *testing.T) *echoSession {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &echoSession{t: t, stdin: inW, lines: bufio.NewScanner(outR), exited: make(chan int, 1)}
	go func() {
		code := runEcho(inR, outW, io.Discard)
		_ = outW.Close()
		s.exited <- code
	}()
	t.Cleanup(func() { _ = inW.Close() })
	return s
}

// send writes one command and returns the answer line.
func (s *echoSession) send(command string) string {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, command+"\n"); err != nil {
		s.t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		if s.lines.Scan() {
			got <- s.lines.Text()
		} else {
			got <- "<no answer>"
		}
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(10 * time.Second):
		s.t.Fatalf("no answer to %q", command)
		return ""
	}
}

// stop closes stdin and returns the exit code.
func (s *echoSession) stop() int {
	_ = s.stdin.Close()
	select {
	case code := <-s.exited:
		return code
	case <-time.After(10 * time.Second):
		s.t.Fatal("netexec echo did not exit at stdin EOF")
		return -1
	}
}

func httpAnswer(t *testing.T, address, path string) (int, string, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	status, body, err := httpGet(conn, address, path, time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return status, string(body), conn.LocalAddr().String()
}

func udpAnswer(t *testing.T, address, message string) string {
	t.Helper()
	conn, err := net.Dial("udp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(message)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("udp %s %q: %v", address, message, err)
	}
	return string(buf[:n])
}

func lines(text string) []string {
	return strings.Split(strings.TrimRight(text, "\n"), "\n")
}

// startForward runs `netexec forward` with args in the background and waits for its
// `ready` line. It runs until the test process ends.
func startForward(t *testing.T, args ...string) {
	t.Helper()
	outR, outW := io.Pipe()
	go func() { _ = runForward(args, outW, io.Discard) }()
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(outR).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ready line")
	}
}
