package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func itoa(i int) string { return strconv.Itoa(i) }

func TestCommands(t *testing.T) {
	cases := []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"version"}, 0, fmt.Sprintf("netexec %s\n", sourceDigest), ""},
		{nil, 2, "", "usage:"},
		{[]string{"bogus"}, 2, "", `netexec: unknown command "bogus"`},
		{[]string{"echo", "extra"}, 2, "", "takes no arguments"},
		{[]string{"help"}, 0, "usage:", ""},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(c.args, strings.NewReader(""), &out, &errOut)
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errOut.String(), c.errs) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", c.args, code, out.String(), errOut.String())
		}
	}
	// echo with no commands exits 0 at EOF.
	if code := run([]string{"echo"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Errorf("echo at EOF: exit %d", code)
	}
}

func TestNetnsPath(t *testing.T) {
	for arg, want := range map[string]string{
		"node-1":           "/run/netns/node-1",
		"/run/netns/x":     "/run/netns/x",
		"/proc/1/ns/net":   "/proc/1/ns/net",
		"./relative/netns": "./relative/netns",
	} {
		if got := netnsPath(arg); got != want {
			t.Errorf("netnsPath(%q) = %q, want %q", arg, got, want)
		}
	}
}
