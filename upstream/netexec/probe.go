package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// What a probe prints and when it stops: the contract of the kind backend's client script.
// These mirror, one for one, the Rust constants in harness/src/backend/kind/manifests.rs
// (ANSWER_PREFIX, STOP_PREFIX, PROBE_CONCURRENCY, PROBE_NO_ROUTE_STOP, PROBE_MAX_TIME_SECS,
// NO_ROUTE_CODES and curl's --connect-timeout 1 in probe_script); a test in
// harness/src/upstream reads this file and fails when the two disagree.
const (
	answerPrefix          = "answer"
	stopPrefix            = "answer-stop"
	defaultConcurrency    = 8
	noRouteStop           = 16
	defaultTimeoutSeconds = 2
	connectTimeoutSeconds = 1
)

// Curl's exit codes for the failure kinds, as the probe reports them.
const (
	rcOK             = 0  // an answer, but an empty one (the script prints FAILED rc=0)
	rcCouldntConnect = 7  // connect failed: refused, unreachable, rejected
	rcWeirdReply     = 8  // the answer is no HTTP
	rcTimeout        = 28 // connect or answer took too long (a dropped packet)
	rcEmptyReply     = 52 // the connection closed before any answer
	rcRecvError      = 56 // the connection was reset
	rcOtherConnError = 35 // any other failure of the connection
)

// noRouteCodes are the codes that mean "the dataplane sent nowhere" (NO_ROUTE_CODES).
var noRouteCodes = []int{rcCouldntConnect, rcTimeout, rcEmptyReply, rcRecvError, rcOtherConnError}

func isNoRoute(rc int) bool {
	for _, c := range noRouteCodes {
		if c == rc {
			return true
		}
	}
	return false
}

// failure is a request that got no answer, with curl's exit code for why.
type failure struct{ rc int }

func (f failure) Error() string { return fmt.Sprintf("rc=%d", f.rc) }

// connectCode maps a failed dial to curl's code: a timeout is 28, anything else is 7 (curl
// says "couldn't connect" for refused, unreachable and locally rejected connections alike).
func connectCode(err error) int {
	if isTimeout(err) {
		return rcTimeout
	}
	return rcCouldntConnect
}

// exchangeCode maps a failure after the connection was made to curl's code.
func exchangeCode(err error) int {
	switch {
	case isTimeout(err):
		return rcTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return rcRecvError
	case errors.Is(err, syscall.ECONNREFUSED):
		// A UDP reply of "port unreachable".
		return rcCouldntConnect
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return rcEmptyReply
	}
	var netErr net.Error
	var syscallErr *os.SyscallError
	if errors.As(err, &netErr) || errors.As(err, &syscallErr) {
		return rcOtherConnError
	}
	return rcWeirdReply
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// probeConfig is one probe's settings.
type probeConfig struct {
	netns          string
	target         string
	count          int
	concurrency    int
	timeout        time.Duration
	connectTimeout time.Duration
	protocol       string
}

// probeOnce makes one request on a new connection and returns the answering pod's name.
func probeOnce(c probeConfig) (string, error) {
	deadline := time.Now().Add(c.timeout)
	connectTimeout := min(c.connectTimeout, c.timeout)
	conn, err := dialIn(c.netns, c.protocol, c.target, connectTimeout)
	if err != nil {
		return "", failure{connectCode(err)}
	}
	if c.protocol == "udp" {
		return udpHostname(conn, deadline)
	}
	status, body, err := httpGet(conn, c.target, "/hostname", deadline)
	if err != nil {
		if status == 0 && strings.Contains(err.Error(), "malformed HTTP") {
			return "", failure{rcWeirdReply}
		}
		return "", failure{exchangeCode(err)}
	}
	// curl (without --fail) prints whatever body came; the shell strips trailing newlines.
	return string(body), nil
}

func udpHostname(conn net.Conn, deadline time.Time) (string, error) {
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", failure{rcOtherConnError}
	}
	if _, err := conn.Write([]byte("hostname")); err != nil {
		return "", failure{exchangeCode(err)}
	}
	buf := make([]byte, 2048)
	n, err := conn.Read(buf)
	if err != nil {
		return "", failure{exchangeCode(err)}
	}
	if n == 0 {
		return "", failure{rcEmptyReply}
	}
	return string(buf[:n]), nil
}

// answerLine renders request i's outcome as the kind client script does: `answer <i> <pod>`,
// or `answer <i> FAILED rc=<code>` (an empty answer is rc=0, as there).
func answerLine(i int, pod string, err error) string {
	if err == nil {
		pod = strings.TrimRight(pod, "\n")
		// One answer is one line.
		pod = strings.NewReplacer("\n", " ", "\r", " ").Replace(pod)
		if pod != "" {
			return fmt.Sprintf("%s %d %s", answerPrefix, i, pod)
		}
		err = failure{rcOK}
	}
	rc := rcOtherConnError
	var f failure
	if errors.As(err, &f) {
		rc = f.rc
	}
	return fmt.Sprintf("%s %d FAILED rc=%d", answerPrefix, i, rc)
}

// probe sends c.count requests, c.concurrency at a time, writes one answer line per request
// in order, and stops early (writing `answer-stop <sent> no-route`) when after a batch
// nothing has answered and at least noRouteStop requests failed with a "no route" code.
func probe(c probeConfig, out io.Writer, request func(probeConfig) (string, error)) {
	ok, miss := 0, 0
	for sent := 0; sent < c.count; {
		batch := min(c.concurrency, c.count-sent)
		lines := make([]string, batch)
		codes := make([]int, batch)
		var wg sync.WaitGroup
		for b := 0; b < batch; b++ {
			wg.Add(1)
			go func(b, i int) {
				defer wg.Done()
				pod, err := request(c)
				lines[b] = answerLine(i, pod, err)
				codes[b] = -1
				var f failure
				if errors.As(err, &f) {
					codes[b] = f.rc
				} else if err == nil && strings.TrimRight(pod, "\n") == "" {
					codes[b] = rcOK
				}
			}(b, sent+b+1)
		}
		wg.Wait()
		sent += batch
		for b, line := range lines {
			fmt.Fprintln(out, line)
			switch {
			case codes[b] == -1:
				ok++
			case isNoRoute(codes[b]):
				miss++
			}
		}
		if ok == 0 && miss >= noRouteStop {
			fmt.Fprintf(out, "%s %d no-route\n", stopPrefix, sent)
			return
		}
	}
}

func runProbe(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("netexec probe", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var c probeConfig
	flags.StringVar(&c.netns, "netns", "", "network namespace to send from (path, NAME, or - for the current one)")
	flags.StringVar(&c.target, "target", "", "IP:PORT to send to")
	flags.IntVar(&c.count, "count", 0, "requests to send, each on a new connection")
	flags.IntVar(&c.concurrency, "concurrency", defaultConcurrency, "requests in flight at once")
	flags.DurationVar(&c.timeout, "timeout", defaultTimeoutSeconds*time.Second, "limit per request (curl --max-time)")
	flags.DurationVar(&c.connectTimeout, "connect-timeout", connectTimeoutSeconds*time.Second, "limit per connect (curl --connect-timeout)")
	flags.StringVar(&c.protocol, "protocol", "tcp", "tcp (HTTP GET /hostname) or udp (a `hostname` datagram)")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	problem := ""
	switch {
	case flags.NArg() != 0:
		problem = fmt.Sprintf("unexpected argument %q", flags.Arg(0))
	case c.netns == "" || c.target == "":
		problem = "needs --netns and --target"
	case c.count < 1:
		problem = "--count must be at least 1"
	case c.concurrency < 1:
		problem = "--concurrency must be at least 1"
	case c.timeout <= 0 || c.connectTimeout <= 0:
		problem = "--timeout and --connect-timeout must be positive"
	case c.protocol != "tcp" && c.protocol != "udp":
		problem = fmt.Sprintf("--protocol %q: expected tcp or udp", c.protocol)
	}
	if problem == "" {
		if host, _, err := net.SplitHostPort(c.target); err != nil || net.ParseIP(host) == nil {
			problem = fmt.Sprintf("--target %q: expected IP:PORT", c.target)
		}
	}
	if problem != "" {
		fmt.Fprintf(stderr, "netexec probe: %s\n", problem)
		return exitUsage
	}
	if err := checkNetns(c.netns); err != nil {
		fmt.Fprintf(stderr, "netexec probe: %v\n", err)
		return exitFailed
	}
	probe(c, stdout, probeOnce)
	return 0
}
