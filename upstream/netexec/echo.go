package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// An echo server of one pod: HTTP on its TCP port, datagrams on its UDP port, both answering
// the pod's name the way agnhost netexec does.
type echoPod struct {
	name string
	http *http.Server
	udp  net.PacketConn
}

func (p *echoPod) close() {
	_ = p.http.Close() // also closes its listener
	_ = p.udp.Close()
}

// echoHandler answers GET /hostname (the pod name, no newline), /clientip (the client's
// ip:port) and /healthz (ok), all text/plain.
func echoHandler(pod string) http.Handler {
	mux := http.NewServeMux()
	text := func(answer func(*http.Request) string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, answer(r))
		}
	}
	mux.Handle("/hostname", text(func(*http.Request) string { return pod }))
	mux.Handle("/clientip", text(func(r *http.Request) string { return r.RemoteAddr }))
	mux.Handle("/healthz", text(func(*http.Request) string { return "ok" }))
	return mux
}

// serveUDP answers each `hostname` datagram with the pod name (and `clientip` with the
// sender's ip:port) until the socket is closed.
func serveUDP(conn net.PacketConn, pod string) {
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error for an earlier reply
		}
		var answer string
		switch strings.TrimSpace(string(buf[:n])) {
		case "hostname":
			answer = pod
		case "clientip":
			answer = from.String()
		default:
			continue
		}
		_, _ = conn.WriteTo([]byte(answer), from)
	}
}

// echoServer holds the pods and answers commands.
type echoServer struct {
	pods map[string]*echoPod
	out  io.Writer
	mu   sync.Mutex // serializes lines on out
}

func (s *echoServer) reply(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	// One answer is one line, whatever an error message holds.
	line = strings.NewReplacer("\n", " ", "\r", " ").Replace(line)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = io.WriteString(s.out, line+"\n")
}

func parsePort(s string) (int, error) {
	port, err := strconv.Atoi(s)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("port %q: expected 1-65535", s)
	}
	return port, nil
}

// add starts pod's listeners inside netns: `add <pod> <netns> <ip> <tcp-port> <udp-port>`.
func (s *echoServer) add(fields []string) error {
	if len(fields) != 5 {
		return fmt.Errorf("expected `add <pod> <netns-path> <ip> <tcp-port> <udp-port>`")
	}
	name, netns, ipText := fields[0], fields[1], fields[2]
	if _, exists := s.pods[name]; exists {
		return fmt.Errorf("pod %s already has listeners (del it first)", name)
	}
	ip := net.ParseIP(ipText)
	if ip == nil {
		return fmt.Errorf("address %q: expected an IP address", ipText)
	}
	tcpPort, err := parsePort(fields[3])
	if err != nil {
		return err
	}
	udpPort, err := parsePort(fields[4])
	if err != nil {
		return err
	}
	var tcp net.Listener
	var udp net.PacketConn
	err = inNetns(netns, func() error {
		var err error
		tcp, err = net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(tcpPort)))
		if err != nil {
			return err
		}
		udp, err = net.ListenPacket("udp", net.JoinHostPort(ip.String(), strconv.Itoa(udpPort)))
		if err != nil {
			_ = tcp.Close()
		}
		return err
	})
	if err != nil {
		return err
	}
	server := &http.Server{
		Handler:           echoHandler(name),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	pod := &echoPod{name: name, http: server, udp: udp}
	s.pods[name] = pod
	go func() { _ = server.Serve(tcp) }()
	go serveUDP(udp, name)
	return nil
}

func (s *echoServer) del(fields []string) error {
	if len(fields) != 1 {
		return fmt.Errorf("expected `del <pod>`")
	}
	pod, ok := s.pods[fields[0]]
	if !ok {
		return fmt.Errorf("no pod %s", fields[0])
	}
	pod.close()
	delete(s.pods, fields[0])
	return nil
}

// runEcho serves pods until stdin ends: one command per line, one answer line per command
// (`ok <pod>` or `error <pod> <message>`; the pod is `-` when the line names none).
func runEcho(stdin io.Reader, stdout, stderr io.Writer) int {
	s := &echoServer{pods: map[string]*echoPod{}, out: stdout}
	defer func() {
		for _, pod := range s.pods {
			pod.close()
		}
	}()
	lines := bufio.NewScanner(stdin)
	for lines.Scan() {
		fields := strings.Fields(lines.Text())
		if len(fields) == 0 {
			continue
		}
		pod := "-"
		if len(fields) > 1 {
			pod = fields[1]
		}
		var err error
		switch fields[0] {
		case "add":
			err = s.add(fields[1:])
		case "del":
			err = s.del(fields[1:])
		default:
			err = fmt.Errorf("unknown command %q (expected add or del)", fields[0])
		}
		if err != nil {
			s.reply("error %s %v", pod, err)
			if isStuck(err) {
				fmt.Fprintf(stderr, "netexec echo: %v\n", err)
				return exitFailed
			}
			continue
		}
		s.reply("ok %s", pod)
	}
	if err := lines.Err(); err != nil {
		fmt.Fprintf(stderr, "netexec echo: reading commands: %v\n", err)
		return exitFailed
	}
	return 0
}
