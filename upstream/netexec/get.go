package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// runGet prints the body of one HTTP GET made from inside --netns (metrics and healthz
// scraping); any failure, a status other than 2xx included, exits 1 with the error on stderr.
func runGet(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("netexec get", flag.ContinueOnError)
	flags.SetOutput(stderr)
	netns := flags.String("netns", "", "network namespace to send from (path, NAME, or - for the current one)")
	rawURL := flags.String("url", "", "http://IP:PORT/PATH")
	timeout := flags.Duration("timeout", 2*time.Second, "limit for the whole request")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	if *netns == "" || *rawURL == "" || flags.NArg() != 0 {
		fmt.Fprintln(stderr, "netexec get: needs --netns and --url (and no other arguments)")
		return exitUsage
	}
	target, err := url.Parse(*rawURL)
	if err != nil || target.Scheme != "http" || target.Port() == "" {
		fmt.Fprintf(stderr, "netexec get: %q: expected http://IP:PORT/PATH\n", *rawURL)
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "netexec get: --timeout must be positive")
		return exitUsage
	}
	deadline := time.Now().Add(*timeout)
	conn, err := dialIn(*netns, "tcp", target.Host, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "netexec get %s: %v\n", *rawURL, err)
		return exitFailed
	}
	status, body, err := httpGet(conn, target.Host, target.RequestURI(), deadline)
	if err != nil {
		fmt.Fprintf(stderr, "netexec get %s: %v\n", *rawURL, err)
		return exitFailed
	}
	if status < 200 || status > 299 {
		first, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		fmt.Fprintf(stderr, "netexec get %s: HTTP %d: %s\n", *rawURL, status, first)
		return exitFailed
	}
	_, _ = stdout.Write(body)
	return 0
}
