package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// runForward listens inside --netns on --listen and copies every connection both ways to
// --to, dialled in the namespace netexec was started in (so a kube-proxy in a node namespace
// reaches an API server bound to the host's loopback). Prints `ready` once listening; runs
// until SIGTERM or SIGINT.
func runForward(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("netexec forward", flag.ContinueOnError)
	flags.SetOutput(stderr)
	netns := flags.String("netns", "", "network namespace to listen in (path, NAME, or - for the current one)")
	listen := flags.String("listen", "", "IP:PORT to listen on inside --netns")
	to := flags.String("to", "", "IP:PORT to forward to, from the namespace netexec started in")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	if *netns == "" || *listen == "" || *to == "" || flags.NArg() != 0 {
		fmt.Fprintln(stderr, "netexec forward: needs --netns, --listen and --to (and no other arguments)")
		return exitUsage
	}
	for _, a := range []string{*listen, *to} {
		if _, err := net.ResolveTCPAddr("tcp", a); err != nil {
			fmt.Fprintf(stderr, "netexec forward: %q: expected IP:PORT\n", a)
			return exitUsage
		}
	}
	var listener net.Listener
	err := inNetns(*netns, func() error {
		var err error
		listener, err = net.Listen("tcp", *listen)
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "netexec forward: %v\n", err)
		return exitFailed
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = listener.Close()
	}()
	fmt.Fprintln(stdout, "ready")
	return forwardAll(listener, *to, stderr)
}

// forwardAll serves listener until it is closed.
func forwardAll(listener net.Listener, to string, stderr io.Writer) int {
	for {
		client, err := listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return 0
			}
			fmt.Fprintf(stderr, "netexec forward: accept: %v\n", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go forwardOne(client, to, stderr)
	}
}

func forwardOne(client net.Conn, to string, stderr io.Writer) {
	defer client.Close()
	// An ordinary goroutine: its thread is in the namespace netexec started in.
	server, err := net.DialTimeout("tcp", to, 5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "netexec forward: %v\n", err)
		return
	}
	defer server.Close()
	var wg sync.WaitGroup
	copyHalf := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Pass the end of one direction on, keep the other open (HTTP/2 and watches rely on it).
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
	}
	wg.Add(2)
	go copyHalf(server, client)
	go copyHalf(client, server)
	wg.Wait()
}
