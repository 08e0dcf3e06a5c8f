package stub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerServeAndShutdown(t *testing.T) {
	opts := Options{
		Config:        Config{Identity: webIdentity()},
		Listen:        "127.0.0.1:0",
		ForwardListen: "127.0.0.1:0",
	}
	srv, err := Listen(opts, nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	base := "http://" + srv.Addr().String()
	resp, err := http.Get(base + "/w/health-check.php")
	if err != nil {
		t.Fatalf("GET health check: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Server") != webPod {
		t.Errorf("health check: expected 200 from %q, got %d from %q", webPod, resp.StatusCode, resp.Header.Get("Server"))
	}
	// Echoes small and large (beyond net/http's 2048-byte chunking buffer)
	// carry a Content-Length, not chunked encoding.
	for _, n := range []int{0, 100} {
		req, _ := http.NewRequest("GET", base+"/wiki/Main_Page", nil)
		for i := range n {
			req.Header.Set(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("v", 40))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET with %d extra headers: %v", n, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
			t.Errorf("echo with %d extra headers: expected Content-Length %d, got %d (transfer encoding %v)",
				n, len(body), resp.ContentLength, resp.TransferEncoding)
		}
	}

	body, _ := json.Marshal(ForwardRequest{URL: base + "/wiki/Main_Page", Host: testwiki})
	resp, err = http.Post("http://"+srv.ForwardAddr().String()+ForwardPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST forward: %v", err)
	}
	var out ForwardResponse
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || out.Status != 200 || out.From.Pod != webPod {
		t.Errorf("forward to itself: expected 200 from %q, got %+v (%v)", webPod, out, err)
	}
	http.DefaultClient.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: expected nil, got %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return within 15s of its context ending")
	}
	if c, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after shutdown")
	}
	if err := srv.Serve(context.Background()); err == nil {
		t.Error("a second Serve should fail")
	}
}

func TestServerShutdownIsBounded(t *testing.T) {
	srv, err := Listen(Options{Config: Config{Identity: webIdentity(), HeaderFaults: true},
		Listen: "127.0.0.1:0", ShutdownTimeout: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	active := make(chan struct{})
	var once sync.Once
	srv.web.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateActive {
			once.Do(func() { close(active) })
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	// A request that would take a minute is in flight when shutdown starts.
	reqDone := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+srv.Addr().String()+"/", nil)
		req.Header.Set(HeaderFaultLatency, "1m")
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		reqDone <- err
	}()
	select {
	case <-active:
	case <-time.After(15 * time.Second):
		t.Fatal("the slow request never reached the server")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "shut down mediawiki listener") {
			t.Errorf("expected a shutdown timeout error, got %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return within 15s although ShutdownTimeout is 50ms")
	}
	select {
	case err := <-reqDone:
		if err == nil {
			t.Error("the slow request should have been cut off by the shutdown")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the slow request was not ended by the shutdown")
	}
}

func TestListenErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	if _, err := Listen(Options{Config: Config{Identity: webIdentity()}, Listen: busy}, nil); err == nil || !strings.Contains(err.Error(), busy) {
		t.Errorf("listen on a busy port: expected an error naming %q, got %v", busy, err)
	}
	if _, err := Listen(Options{Config: Config{Identity: webIdentity()}, Listen: "127.0.0.1:0", ForwardListen: busy}, nil); err == nil || !strings.Contains(err.Error(), "forwards") {
		t.Errorf("forward listen on a busy port: expected an error, got %v", err)
	}
	if _, err := Listen(Options{Config: Config{}, Listen: "127.0.0.1:0"}, nil); err == nil || !strings.Contains(err.Error(), "namespace is required") {
		t.Errorf("invalid config: expected a validation error, got %v", err)
	}
}
