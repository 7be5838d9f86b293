// Command netexec is the node helper of topo-harness's local backend, where every Kubernetes
// node is a Linux network namespace and every pod a network namespace behind its node. All
// namespace work happens here: a socket is made on a locked OS thread that has entered the
// namespace, and it stays in that namespace whichever thread uses it later.
//
//	netexec echo                 echo servers for many pods, driven by commands on stdin
//	netexec forward --netns P --listen IP:PORT --to IP:PORT
//	netexec probe --netns P --target IP:PORT --count N [--concurrency 8] [--timeout 2s] [--protocol tcp|udp]
//	netexec get --netns P --url http://IP:PORT/PATH [--timeout 2s]
//	netexec version
//
// A netns argument is a path (/run/netns/NAME, /proc/PID/ns/net), a bare NAME (/run/netns/NAME),
// or "-" for the namespace netexec was started in.
package main

import (
	"fmt"
	"io"
	"os"
)

// sourceDigest is stamped at build time (-X main.sourceDigest=...): the digest of the sources
// topo-harness built this binary from, so a caller can tell it runs the helper it expects.
var sourceDigest = "dev"

const usage = `usage:
  netexec echo
  netexec forward --netns PATH --listen IP:PORT --to IP:PORT
  netexec probe --netns PATH --target IP:PORT --count N [--concurrency 8] [--timeout 2s] [--connect-timeout 1s] [--protocol tcp|udp]
  netexec get --netns PATH --url http://IP:PORT/PATH [--timeout 2s]
  netexec version
`

// Exit codes: 0 done, 1 the work failed, 2 bad arguments.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	rest := args[1:]
	switch args[0] {
	case "echo":
		if len(rest) != 0 {
			fmt.Fprintf(stderr, "netexec echo: takes no arguments (commands come on stdin)\n")
			return exitUsage
		}
		return runEcho(stdin, stdout, stderr)
	case "forward":
		return runForward(rest, stdout, stderr)
	case "probe":
		return runProbe(rest, stdout, stderr)
	case "get":
		return runGet(rest, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "netexec %s\n", sourceDigest)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "netexec: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
}
