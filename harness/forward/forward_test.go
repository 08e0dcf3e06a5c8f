package forward

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// TestRequestRoundTrip encodes a request as the probe does and decodes it
// as the stub does: the in-pod request is the one asked for.
func TestRequestRoundTrip(t *testing.T) {
	in := NewRequest(http.MethodPost, "http://127.0.0.1:6506/rpc/RunSingleJob.php?x=1", "test.wikipedia.org",
		[]Header{{Name: "X-Test", Value: "a"}, {Name: "X-Test", Value: "b"}, {Name: "User-Agent", Value: "ua"}}, "{}", time.Minute)
	if in.TimeoutMs != 30000 {
		t.Errorf("timeout: expected capped at 30000 ms, got %d", in.TimeoutMs)
	}
	raw, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeRequest(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: sent %+v, decoded %+v", in, out)
	}
	req, err := out.Upstream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "POST" || req.URL.String() != "http://127.0.0.1:6506/rpc/RunSingleJob.php?x=1" || req.Host != "test.wikipedia.org" ||
		!reflect.DeepEqual(req.Header, http.Header{"X-Test": {"a", "b"}, "User-Agent": {"ua"}}) {
		t.Errorf("in-pod request %s %s Host %q headers %v", req.Method, req.URL, req.Host, req.Header)
	}
	if out.Timeout() != 30*time.Second {
		t.Errorf("timeout %v", out.Timeout())
	}
}

// TestWireFormat pins the JSON field names the deployed stub images read.
func TestWireFormat(t *testing.T) {
	raw, err := NewRequest("GET", "http://127.0.0.1:6501/w/api.php", "h", []Header{{Name: "A", Value: "b"}}, "", 3*time.Second).Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"url":"http://127.0.0.1:6501/w/api.php","method":"GET","host":"h","headers":[{"name":"A","value":"b"}],"timeoutMs":3000}`
	if string(raw) != want {
		t.Errorf("encoded\n%s\nwant\n%s", raw, want)
	}
	ans, err := EncodeResponse(Response{Status: 200, Body: "<p>", LatencyMs: 1.5, From: identity.Identity{Pod: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(ans), `{"status":200,"headers":{},"body":"<p>","latencyMs":1.5,"error":"","from":{`) {
		t.Errorf("answer %s", ans)
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	in := Response{Status: 404, Headers: map[string][]string{"Server": {"mw-pretrain.eqiad.main-1-2"}, "X-A": {"1", "2"}},
		Body: "no <route>", LatencyMs: 12.5, From: identity.Identity{Namespace: "mw-web", Release: "main", Pod: "p"}}
	raw, err := EncodeResponse(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeAnswer(200, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: sent %+v, decoded %+v", in, out)
	}
	if out.Latency() != 12500*time.Microsecond || out.Header().Get("Server") != "mw-pretrain.eqiad.main-1-2" || len(out.Header().Values("X-A")) != 2 {
		t.Errorf("latency %v header %v", out.Latency(), out.Header())
	}
}

// TestDecodeRequestFailures: what the stub refuses before sending, with
// the status it answers and a message that says what was wrong.
func TestDecodeRequestFailures(t *testing.T) {
	tests := []struct {
		name, raw string
		kind      error
		status    int
		want      string
	}{
		{"not JSON", `<html>`, ErrMalformed, 400, "malformed forward request: invalid character '<'"},
		{"truncated", `{"url":`, ErrMalformed, 400, "malformed forward request: unexpected EOF"},
		{"unknown field", `{"url":"http://127.0.0.1/","listener":"x"}`, ErrMalformed, 400, `unknown field "listener"`},
		{"wrong type", `{"url":"http://127.0.0.1/","timeoutMs":"5s"}`, ErrMalformed, 400, "timeoutMs"},
		{"oversized", `{"url":"http://127.0.0.1/","body":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, ErrTooLarge, 400,
			"malformed forward request: too large: more than 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRequest(strings.NewReader(tc.raw))
			checkRefusal(t, err, tc.kind, tc.status, tc.want)
		})
	}
	t.Run("oversized behind http.MaxBytesReader", func(t *testing.T) {
		body := http.MaxBytesReader(nil, nopCloser{strings.NewReader(strings.Repeat(" ", MaxRequestBytes+10))}, MaxRequestBytes)
		if _, err := DecodeRequest(body); !errors.Is(err, ErrTooLarge) {
			t.Errorf("expected ErrTooLarge, got %v", err)
		}
	})
}

// checkRefusal: err is a refusal of kind, answered with status, saying want.
func checkRefusal(t *testing.T, err error, kind error, status int, want string) {
	t.Helper()
	if !errors.Is(err, kind) || StatusOf(err) != status || !strings.Contains(err.Error(), want) {
		t.Errorf("expected %v (status %d) containing %q, got %v (status %d)", kind, status, want, err, StatusOf(err))
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// TestUpstreamFailures: requests that decode but ask for what the stub
// does not send; an unknown listener (anything not on loopback) is 403.
func TestUpstreamFailures(t *testing.T) {
	tests := []struct {
		name   string
		req    Request
		kind   error
		status int
		want   string
	}{
		{"unknown listener: pod IP", Request{URL: "http://10.0.0.1:6501/"}, ErrNotLoopback, 403, `destination not loopback: "10.0.0.1"`},
		{"unknown listener: name", Request{URL: "http://mw-api-int.discovery.wmnet:4446/"}, ErrNotLoopback, 403, "only forwards inside its pod"},
		{"unknown listener: unspecified", Request{URL: "http://0.0.0.0:6501/"}, ErrNotLoopback, 403, "not loopback"},
		{"no scheme", Request{URL: "/w/api.php"}, ErrMalformed, 400, "scheme must be http or https"},
		{"no host", Request{URL: "http:///w/api.php"}, ErrMalformed, 400, "no host"},
		{"bad URL", Request{URL: "http://127.0.0.1:x/"}, ErrMalformed, 400, "parse url"},
		{"timeout", Request{URL: "http://127.0.0.1/", TimeoutMs: 30001}, ErrMalformed, 400, "timeoutMs 30001: want 0 (default 5s) up to 30000"},
		{"negative timeout", Request{URL: "http://127.0.0.1/", TimeoutMs: -1}, ErrMalformed, 400, "timeoutMs -1"},
		{"bad method", Request{URL: "http://127.0.0.1/", Method: "GE T"}, ErrMalformed, 400, "invalid method"},
		{"nameless header", Request{URL: "http://127.0.0.1/", Headers: []Header{{Value: "x"}}}, ErrMalformed, 400, "a header has no name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.req.Upstream(context.Background())
			checkRefusal(t, err, tc.kind, tc.status, tc.want)
		})
	}
}

func TestUpstreamDefaults(t *testing.T) {
	req, err := Request{URL: "http://localhost:6501/x", Headers: []Header{{Name: "host", Value: "h1"}}}.Upstream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "GET" || req.Host != "h1" || req.Header.Get("User-Agent") != DefaultUserAgent || req.Header.Get("Host") != "" {
		t.Errorf("%s Host %q headers %v", req.Method, req.Host, req.Header)
	}
	if (Request{}).Timeout() != DefaultTimeout {
		t.Errorf("default timeout %v", (Request{}).Timeout())
	}
}

// TestDecodeAnswerFailures: what the probe makes of an answer that is not
// a successful forward.
func TestDecodeAnswerFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		raw    string
		kind   error
		want   string
	}{
		{"refused with error", 403, `{"status":0,"error":"forward url \"http://10.0.0.1/\": destination not loopback"}`, ErrRefused,
			`forward refused with status 403: forward url "http://10.0.0.1/": destination not loopback`},
		{"refused, not JSON", 502, "<html>bad gateway</html>\n", ErrRefused, "forward refused with status 502: <html>bad gateway</html>"},
		{"not JSON", 200, "<html>", ErrBadAnswer, "decode forward answer: invalid character"},
		{"oversized", 200, `{"body":"` + strings.Repeat("x", MaxAnswerBytes) + `"}`, ErrTooLarge, "decode forward answer: too large: more than 1048576 bytes"},
		{"in-pod failure", 200, `{"status":0,"error":"dial tcp 127.0.0.1:6501: connection refused","latencyMs":0.5}`, ErrInPod,
			"in-pod request failed: dial tcp 127.0.0.1:6501: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := DecodeAnswer(tc.status, []byte(tc.raw))
			if !errors.Is(err, tc.kind) || err.Error() != tc.want && !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("expected %v: %q, got %v", tc.kind, tc.want, err)
			}
			if tc.kind == ErrInPod && a.Latency() != 500*time.Microsecond {
				t.Errorf("in-pod failure: latency %v, want the answer's", a.Latency())
			}
		})
	}
}

func TestEncodeOversized(t *testing.T) {
	_, err := NewRequest("POST", "http://127.0.0.1/", "h", nil, strings.Repeat("x", MaxRequestBytes), 0).Encode()
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "encode forward request to http://127.0.0.1/: too large") {
		t.Errorf("expected ErrTooLarge, got %v", err)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost.": true, "127.0.0.1": true, "127.1.2.3": true,
		"::1": true, "::ffff:127.0.0.1": true,
		"": false, "0.0.0.0": false, "10.0.0.1": false, "::": false, "::2": false, "128.0.0.1": false,
		"localhost.localdomain": false, "my-localhost": false, "test.wikipedia.org": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q): expected %v, got %v", host, want, got)
		}
	}
}

// TestDecodeEarlierProbeRequest: the stub still reads what earlier probes
// posted (every field written, empty ones included).
func TestDecodeEarlierProbeRequest(t *testing.T) {
	raw := `{"url":"http://127.0.0.1:6501/w/api.php","method":"GET","host":"test.wikipedia.org",` +
		`"headers":[{"name":"User-Agent","value":"ua"}],"body":"","timeoutMs":10000}`
	r, err := DecodeRequest(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := Request{URL: "http://127.0.0.1:6501/w/api.php", Method: "GET", Host: "test.wikipedia.org",
		Headers: []Header{{Name: "User-Agent", Value: "ua"}}, TimeoutMs: 10000}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("decoded %+v, want %+v", r, want)
	}
}
