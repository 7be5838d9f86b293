package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// dialIn opens a connection from inside netns. Only the socket's creation needs the namespace;
// the connection is used from any goroutine afterwards.
func dialIn(netns, network, address string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(netns, func() error {
		var err error
		// A literal address: the dial runs on this goroutine (no resolver, no parallel dials).
		conn, err = (&net.Dialer{Timeout: timeout}).Dial(network, address)
		return err
	})
	return conn, err
}

// maxBody bounds what one answer may hold.
const maxBody = 1 << 20

// httpGet sends one GET for path over conn (its own connection, closed after) and returns
// the status code and the body. deadline bounds the whole exchange.
func httpGet(conn net.Conn, host, path string, deadline time.Time) (int, []byte, error) {
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Close = true
	req.Header.Set("User-Agent", "topo-harness-netexec")
	if err := req.Write(conn); err != nil {
		return 0, nil, fmt.Errorf("sending the request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, body, err
	}
	return resp.StatusCode, body, nil
}
