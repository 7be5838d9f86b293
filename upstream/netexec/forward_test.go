package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestForwardCopiesBothWays(t *testing.T) {
	// A server that answers after the client half-closed: both directions and the
	// half-close must pass through.
	upstream := serve(t, func(c net.Conn) {
		defer c.Close()
		request, _ := io.ReadAll(c)
		_, _ = io.WriteString(c, "got:"+string(request))
	})
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- forwardAll(listener, upstream, io.Discard) }()
	for i := 0; i < 3; i++ {
		conn, err := net.Dial("tcp", listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(conn, "hello")
		_ = conn.(*net.TCPConn).CloseWrite()
		answer, err := io.ReadAll(conn)
		_ = conn.Close()
		if err != nil || string(answer) != "got:hello" {
			t.Fatalf("answer %q, %v", answer, err)
		}
	}
	_ = listener.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the listener closed", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("forwardAll did not return")
	}
}

func TestForwardPrintsReady(t *testing.T) {
	upstream := serve(t, func(c net.Conn) { _, _ = io.WriteString(c, "hi"); _ = c.Close() })
	port := freePort(t, "127.0.0.1")
	startForward(t, "--netns", "-", "--listen", "127.0.0.1:"+itoa(port), "--to", upstream)
	conn, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(conn)
	_ = conn.Close()
	if string(answer) != "hi" {
		t.Errorf("answer %q", answer)
	}
}

func TestForwardArguments(t *testing.T) {
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--listen", "127.0.0.1:1", "--to", "127.0.0.1:2"}, 2, "needs --netns, --listen and --to"},
		{[]string{"--netns", "-", "--listen", "nowhere", "--to", "127.0.0.1:2"}, 2, "expected IP:PORT"},
		{[]string{"--netns", "/nonexistent", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:2"}, 1, "network namespace /nonexistent"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := runForward(c.args, &out, &errOut); code != c.code || !strings.Contains(errOut.String(), c.err) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q", c.args, code, errOut.String(), out.String())
		}
	}
}
