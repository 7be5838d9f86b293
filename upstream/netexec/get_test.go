package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func httpServer(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

func TestGet(t *testing.T) {
	address := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.RequestURI() {
		case "/metrics?x=1":
			fmt.Fprint(w, "# HELP a\na 1\n")
		default:
			http.Error(w, "not here\nsecond line", http.StatusNotFound)
		}
	})
	var out, errOut bytes.Buffer
	if code := runGet([]string{"--netns", "-", "--url", "http://" + address + "/metrics?x=1"}, &out, &errOut); code != 0 || out.String() != "# HELP a\na 1\n" {
		t.Errorf("exit %d, body %q, stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := runGet([]string{"--netns", "-", "--url", "http://" + address + "/missing"}, &out, &errOut); code != 1 || out.Len() != 0 || !strings.Contains(errOut.String(), "HTTP 404: not here\n") {
		t.Errorf("404: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	closed := net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t, "127.0.0.1")))
	errOut.Reset()
	if code := runGet([]string{"--netns", "-", "--url", "http://" + closed + "/", "--timeout", "1s"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "connection refused") {
		t.Errorf("refused: exit %d, stderr %q", code, errOut.String())
	}
}

func TestGetTimesOut(t *testing.T) {
	address := httpServer(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) })
	var out, errOut bytes.Buffer
	start := time.Now()
	code := runGet([]string{"--netns", "-", "--url", "http://" + address + "/", "--timeout", "300ms"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "timeout") || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("exit %d after %v, stderr %q", code, time.Since(start), errOut.String())
	}
}

func TestGetArguments(t *testing.T) {
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--url", "http://127.0.0.1:1/"}, 2, "needs --netns and --url"},
		{[]string{"--netns", "-", "--url", "https://127.0.0.1:1/"}, 2, "expected http://IP:PORT/PATH"},
		{[]string{"--netns", "-", "--url", "http://127.0.0.1/"}, 2, "expected http://IP:PORT/PATH"},
		{[]string{"--netns", "-", "--url", "http://127.0.0.1:1/", "--timeout", "-1s"}, 2, "--timeout must be positive"},
		{[]string{"--netns", "/nonexistent", "--url", "http://127.0.0.1:1/"}, 1, "network namespace /nonexistent"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := runGet(c.args, &out, &errOut); code != c.code || !strings.Contains(errOut.String(), c.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut.String(), c.code, c.err)
		}
	}
}
