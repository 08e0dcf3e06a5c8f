package stub

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// newStubServer runs a stub handler on a loopback listener.
func newStubServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(mustHandler(t, cfg))
	t.Cleanup(srv.Close)
	return srv
}

// postForward sends fr (or raw, when non-empty) to a forward server.
func postForward(t *testing.T, fwdURL string, fr ForwardRequest, raw string) (*http.Response, ForwardResponse) {
	t.Helper()
	body := []byte(raw)
	if raw == "" {
		var err error
		if body, err = json.Marshal(fr); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(fwdURL+ForwardPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", ForwardPath, err)
	}
	defer resp.Body.Close()
	var out ForwardResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode forward response: %v", err)
	}
	return resp, out
}

func newForwardServer(t *testing.T, from identity.Identity) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewForwardHandler(from, nil))
	t.Cleanup(srv.Close)
	return srv
}

// TestForwardBetweenStubs forwards from a web stub's forward endpoint to
// two other in-process stubs, as a mesh check does from inside a pod.
func TestForwardBetweenStubs(t *testing.T) {
	from := webIdentity()
	fwd := newForwardServer(t, from)
	api := newStubServer(t, Config{Identity: identity.Identity{Namespace: "mw-pretrain", Release: "main", DC: "codfw",
		Pod: "mw-pretrain.codfw.main-1-2", Role: RoleWeb}})
	jr := newStubServer(t, Config{Identity: jobrunnerIdentity()})

	t.Run("GET api.php with Host and headers", func(t *testing.T) {
		resp, out := postForward(t, fwd.URL, ForwardRequest{
			URL: api.URL + "/w/api.php?action=query&servedby=1", Method: "GET", Host: testwiki,
			Headers: []ForwardHeader{{Name: "X-Test", Value: "y"}}, TimeoutMs: 5000,
		}, "")
		if resp.StatusCode != 200 || out.Status != 200 || out.Error != "" {
			t.Fatalf("expected forward 200 with upstream 200, got %d / %d (error %q)", resp.StatusCode, out.Status, out.Error)
		}
		if got := resp.Header.Get("Server"); got != from.Pod {
			t.Errorf("forward call Server: expected %q, got %q", from.Pod, got)
		}
		if out.From.Pod != from.Pod || out.From.Release != "main" {
			t.Errorf("from: expected %+v, got %+v", from, out.From)
		}
		if got := out.Headers["Server"]; len(got) != 1 || got[0] != "mw-pretrain.codfw.main-1-2" {
			t.Errorf("upstream Server: expected the api stub's pod, got %q", got)
		}
		var e Echo
		if err := json.Unmarshal([]byte(out.Body), &e); err != nil {
			t.Fatalf("decode upstream echo %q: %v", out.Body, err)
		}
		if e.Host != testwiki {
			t.Errorf("upstream saw Host %q, expected %q", e.Host, testwiki)
		}
		if got := e.Headers["X-Test"]; len(got) != 1 || got[0] != "y" {
			t.Errorf("upstream header X-Test: expected [y], got %q", got)
		}
		if e.ServedBy != "mw-pretrain.codfw.main-1-2" {
			t.Errorf("servedby: got %q", e.ServedBy)
		}
		if out.LatencyMs <= 0 {
			t.Errorf("latencyMs: expected > 0, got %v", out.LatencyMs)
		}
	})

	t.Run("POST a job to the jobrunner, Host from headers", func(t *testing.T) {
		_, out := postForward(t, fwd.URL, ForwardRequest{
			URL: jr.URL + PathRunSingleJob, Method: "POST",
			Headers: []ForwardHeader{{Name: "Host", Value: testwiki}, {Name: "Content-Type", Value: "application/json"}},
			Body:    `{"database":"testwiki","type":"null"}`,
		}, "")
		if out.Status != 200 || out.Error != "" {
			t.Fatalf("expected upstream 200, got %d (error %q, body %q)", out.Status, out.Error, out.Body)
		}
		var res JobResult
		if err := json.Unmarshal([]byte(out.Body), &res); err != nil || res.ServedBy != jobrunnerPod {
			t.Errorf("job result: expected served by %q, got %+v (%v)", jobrunnerPod, res, err)
		}
	})

	t.Run("upstream 404 is reported, not hidden", func(t *testing.T) {
		resp, out := postForward(t, fwd.URL, ForwardRequest{URL: jr.URL + "/wiki/Main_Page", Host: testwiki}, "")
		if resp.StatusCode != 200 || out.Status != 404 {
			t.Fatalf("expected forward 200 reporting upstream 404, got %d / %d", resp.StatusCode, out.Status)
		}
	})
}

func TestForwardRefusals(t *testing.T) {
	fwd := newForwardServer(t, webIdentity())
	tests := []struct {
		name    string
		req     ForwardRequest
		raw     string
		status  int
		wantErr string
	}{
		{name: "private address", req: ForwardRequest{URL: "http://10.0.0.1:6501/w/api.php"}, status: 403, wantErr: "not loopback"},
		{name: "public name", req: ForwardRequest{URL: "http://example.org/"}, status: 403, wantErr: "not loopback"},
		{name: "localhost look-alike", req: ForwardRequest{URL: "http://localhost.example.org/"}, status: 403, wantErr: "not loopback"},
		{name: "non-loopback IPv6", req: ForwardRequest{URL: "http://[::2]:6501/"}, status: 403, wantErr: "not loopback"},
		{name: "unspecified address", req: ForwardRequest{URL: "http://0.0.0.0:6501/"}, status: 403, wantErr: "not loopback"},
		{name: "bad JSON", raw: `{"url":`, status: 400, wantErr: "malformed forward request"},
		{name: "oversized", raw: `{"url":"http://127.0.0.1/","body":"` + strings.Repeat("x", 1<<20) + `"}`, status: 400, wantErr: "too large: more than 1048576 bytes"},
		{name: "unknown field", raw: `{"url":"http://127.0.0.1/","tls":true}`, status: 400, wantErr: "unknown field"},
		{name: "bad scheme", req: ForwardRequest{URL: "ftp://127.0.0.1/"}, status: 400, wantErr: "scheme"},
		{name: "no host", req: ForwardRequest{URL: "/w/api.php"}, status: 400, wantErr: "scheme"},
		{name: "timeout above max", req: ForwardRequest{URL: "http://127.0.0.1/", TimeoutMs: 60000}, status: 400, wantErr: "timeoutMs"},
		{name: "negative timeout", req: ForwardRequest{URL: "http://127.0.0.1/", TimeoutMs: -1}, status: 400, wantErr: "timeoutMs"},
		{name: "bad method", req: ForwardRequest{URL: "http://127.0.0.1/", Method: "GE T"}, status: 400, wantErr: "method"},
		{name: "header without name", req: ForwardRequest{URL: "http://127.0.0.1/", Headers: []ForwardHeader{{Value: "x"}}}, status: 400, wantErr: "no name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := postForward(t, fwd.URL, tc.req, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("expected %d, got %d (error %q)", tc.status, resp.StatusCode, out.Error)
			}
			if !strings.Contains(out.Error, tc.wantErr) {
				t.Errorf("error: expected it to contain %q, got %q", tc.wantErr, out.Error)
			}
			if out.Status != 0 || out.From.Pod != webPod {
				t.Errorf("refusal: expected status 0 from %q, got %d from %q", webPod, out.Status, out.From.Pod)
			}
			if resp.Header.Get(identity.Header) == "" {
				t.Errorf("refusal has no %s header", identity.Header)
			}
		})
	}

	t.Run("GET is 405", func(t *testing.T) {
		resp, err := http.Get(fwd.URL + ForwardPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
			t.Errorf("expected 405 with Allow: POST, got %d %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("other path is 404", func(t *testing.T) {
		resp, err := http.Post(fwd.URL+"/other", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("expected 404, got %d", resp.StatusCode)
		}
	})
}

func TestForwardUpstreamFailures(t *testing.T) {
	fwd := newForwardServer(t, webIdentity())

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		resp, out := postForward(t, fwd.URL, ForwardRequest{URL: "http://" + addr + "/"}, "")
		if resp.StatusCode != 200 || out.Status != 0 || !strings.Contains(out.Error, "refused") {
			t.Errorf("expected forward 200 with status 0 and a refused error, got %d / %d %q", resp.StatusCode, out.Status, out.Error)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // answers only when the forward gives up
		}))
		t.Cleanup(slow.Close)
		_, out := postForward(t, fwd.URL, ForwardRequest{URL: slow.URL + "/", TimeoutMs: 50}, "")
		if out.Status != 0 || !strings.Contains(out.Error, "deadline exceeded") {
			t.Errorf("expected status 0 and a deadline error, got %d %q", out.Status, out.Error)
		}
		if out.LatencyMs < 50 {
			t.Errorf("latencyMs: expected at least the 50ms timeout, got %v", out.LatencyMs)
		}
	})

	t.Run("redirects are not followed", func(t *testing.T) {
		redir := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:1/elsewhere", http.StatusFound))
		t.Cleanup(redir.Close)
		_, out := postForward(t, fwd.URL, ForwardRequest{URL: redir.URL + "/"}, "")
		if out.Status != 302 || out.Error != "" || out.Headers["Location"][0] != "http://127.0.0.1:1/elsewhere" {
			t.Errorf("expected the 302 itself, got %d %q %v", out.Status, out.Error, out.Headers)
		}
	})

	t.Run("large body is truncated", func(t *testing.T) {
		big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, strings.Repeat("x", MaxForwardBody+100))
		}))
		t.Cleanup(big.Close)
		_, out := postForward(t, fwd.URL, ForwardRequest{URL: big.URL + "/"}, "")
		if out.Status != 200 || len(out.Body) != MaxForwardBody || !out.BodyTruncated {
			t.Errorf("expected %d bytes, truncated; got %d bytes, truncated=%v", MaxForwardBody, len(out.Body), out.BodyTruncated)
		}
	})

	t.Run("compressed body is reported as sent", func(t *testing.T) {
		gz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("X-Accept-Encoding-Seen", r.Header.Get("Accept-Encoding"))
			_, _ = io.WriteString(w, "not really gzip")
		}))
		t.Cleanup(gz.Close)
		_, out := postForward(t, fwd.URL, ForwardRequest{URL: gz.URL + "/"}, "")
		if out.Error != "" || out.Body != "not really gzip" || out.Headers["X-Accept-Encoding-Seen"][0] != "" {
			t.Errorf("expected the raw body and no added Accept-Encoding, got %q %q %v", out.Body, out.Error, out.Headers)
		}
	})
}

func TestForwardViaLocalhost(t *testing.T) {
	fwd := newForwardServer(t, webIdentity())
	api := newStubServer(t, Config{Identity: webIdentity()})
	_, port, _ := net.SplitHostPort(api.Listener.Addr().String())
	_, out := postForward(t, fwd.URL, ForwardRequest{URL: "http://localhost:" + port + "/wiki/Main_Page", Host: testwiki}, "")
	if out.Status != 200 || out.Error != "" {
		t.Errorf("expected 200 via localhost, got %d (error %q)", out.Status, out.Error)
	}
}

// TestLoopbackDialer checks the default client refuses to connect to a
// non-loopback address even past the URL check (e.g. a name resolving
// elsewhere). The check runs before connect: nothing is sent.
func TestLoopbackDialer(t *testing.T) {
	tr := loopbackTransport()
	conn, err := tr.DialContext(context.Background(), "tcp", "192.0.2.1:80")
	if err == nil {
		conn.Close()
		t.Fatal("expected the dialer to refuse 192.0.2.1, it connected")
	}
	if !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("expected a loopback error, got %v", err)
	}
}
