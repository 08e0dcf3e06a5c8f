package httpbb

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live/livetest"
)

// recorder is a local TLS server that keeps every request it gets, body
// included, and answers 200 {"score": 0.5}.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []recorded
}

type recorded struct {
	method, host, path, contentType, userAgent, body string
	at                                               time.Time
}

func startRecorder(t *testing.T, ca *livetest.CA) *recorder {
	t.Helper()
	r := &recorder{}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, recorded{req.Method, req.Host, req.URL.RequestURI(), req.Header.Get("Content-Type"), req.UserAgent(), string(b), time.Now()})
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"score": 0.5}`)
	}))
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.got...)
}

func (r *recorder) addr() string { return r.srv.Listener.Addr().String() }

const postSuite = `https://test.wikipedia.org:
- path: /v1/models/scorer:predict
  method: POST
  json_body: {rev_id: 42, lang: en}
  assert_status: 200
  assert_body_contains: score
- path: /w/api.php
  method: POST
  form_body: {action: query, titles: Main Page}
  assert_status: 200
- path: /v1/models/scorer:explain
  method: POST
  request_headers: {Content-Type: application/json; charset=utf-8}
  json_body: [1, 2]
  assert_status: 200
- path: /wiki/Main_Page
  assert_status: 200
`

// Without AllowPost a suite with a POST carrying a body is refused whole,
// before anything is sent, each refusal naming the test and the flag.
func TestPostRefusedWithoutFlag(t *testing.T) {
	ca, caFile := livetest.NewTestCA(t)
	rec := startRecorder(t, ca)
	tests, _, err := Parse("post.yaml", []byte(postSuite))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), tests, Options{Hosts: []string{rec.addr()}, CAFile: caFile, Rate: live.MaxRate})
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("error %v, want ErrUnsafe", err)
	}
	for _, want := range []string{
		"post.yaml:2:3: POST https://test.wikipedia.org/v1/models/scorer:predict: ",
		"this POST sends a json_body (28 bytes) and runs code on production: it is sent only with --allow-post-to-production",
		"post.yaml:7:3: POST https://test.wikipedia.org/w/api.php: ",
		"this POST sends a form_body (29 bytes)",
		"post.yaml:11:3: POST https://test.wikipedia.org/v1/models/scorer:explain: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "Main_Page") {
		t.Errorf("the GET is named as unsafe: %v", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// With AllowPost the POSTs go out with httpbb's bodies and content types,
// and pass.
func TestPostWithFlag(t *testing.T) {
	t.Parallel() // waits on the rate cap
	ca, caFile := livetest.NewTestCA(t)
	rec := startRecorder(t, ca)
	tests, _, err := Parse("post.yaml", []byte(postSuite))
	if err != nil {
		t.Fatal(err)
	}
	vs := run(t, tests, Options{Hosts: []string{rec.addr()}, CAFile: caFile, AllowPost: true})
	for _, v := range vs {
		if v.Outcome != check.Passed {
			t.Errorf("%s: %s %v", v.Case.Name, v.Outcome, v.Reasons)
		}
	}
	want := []recorded{
		{method: "POST", path: "/v1/models/scorer:predict", contentType: "application/json", body: `{"rev_id": 42, "lang": "en"}`},
		{method: "POST", path: "/w/api.php", contentType: "application/x-www-form-urlencoded", body: "action=query&titles=Main+Page"},
		{method: "POST", path: "/v1/models/scorer:explain", contentType: "application/json; charset=utf-8", body: "[1, 2]"},
		{method: "GET", path: "/wiki/Main_Page"},
	}
	got := rec.requests()
	if len(got) != len(want) {
		t.Fatalf("%d requests: %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.method != w.method || g.path != w.path || g.contentType != w.contentType || g.body != w.body || g.host != "test.wikipedia.org" {
			t.Errorf("request %d:\n got %s %s %s %q %q\nwant %s %s %q %q", i, g.method, g.host, g.path, g.contentType, g.body, w.method, w.path, w.contentType, w.body)
		}
		if err := live.CheckUserAgent(g.userAgent); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if b := vs[0].Case.Request.Body; b != `{"rev_id": 42, "lang": "en"}` {
		t.Errorf("reported body %q", b)
	}
}

// With AllowPost a POST still passes every other rule: TLS verification,
// the rate cap, https only, the hosts, the User-Agent policy; other
// methods and bodies on a GET stay refused.
func TestPostWithFlagStillGuarded(t *testing.T) {
	ca, _ := livetest.NewTestCA(t)
	rec := startRecorder(t, ca)

	t.Run("TLS verification", func(t *testing.T) {
		_, otherCAFile := livetest.NewTestCA(t) // trusts another CA only
		tests, _, err := Parse("post.yaml", []byte(postSuite))
		if err != nil {
			t.Fatal(err)
		}
		before := len(rec.requests())
		vs := run(t, tests[:1], Options{Hosts: []string{rec.addr()}, CAFile: otherCAFile, AllowPost: true})
		if vs[0].Outcome != check.Failed || !strings.Contains(vs[0].Evidence.Err, "certificate") {
			t.Errorf("untrusted certificate: %s %q", vs[0].Outcome, vs[0].Evidence.Err)
		}
		if n := len(rec.requests()) - before; n != 0 {
			t.Errorf("%d requests reached the server over an untrusted certificate", n)
		}
	})

	t.Run("rate cap", func(t *testing.T) {
		tests, _, err := Parse("post.yaml", []byte(postSuite))
		if err != nil {
			t.Fatal(err)
		}
		before := len(rec.requests())
		// The recorder's CA is ca: write it for this run.
		caPath, err := ca.WriteCAFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		vs := run(t, tests[:3], Options{Hosts: []string{rec.addr()}, CAFile: caPath, AllowPost: true, Rate: 4})
		got := rec.requests()[before:]
		if len(got) != 3 || len(vs) != 3 {
			t.Fatalf("%d requests, %d verdicts", len(got), len(vs))
		}
		if d := got[2].at.Sub(got[0].at); d < 450*time.Millisecond {
			t.Errorf("3 POSTs at 4/s within %s: the rate cap did not hold", d)
		}
	})

	t.Run("static rules", func(t *testing.T) {
		cases := []struct{ name, doc, want string }{
			{"http", "http://test.wikipedia.org:\n- {path: /p, method: POST, json_body: {a: 1}, assert_status: 200}\n", "https only"},
			{"PUT", "https://test.wikipedia.org:\n- {path: /p, method: PUT, json_body: {a: 1}, assert_status: 200}\n", `method "PUT"`},
			{"GET with a body", "https://test.wikipedia.org:\n- {path: /p, json_body: {a: 1}, assert_status: 200}\n", "a json_body is sent with POST only"},
			{"user agent", "https://test.wikipedia.org:\n- {path: /p, method: POST, request_headers: {User-Agent: curl/8}, json_body: {a: 1}, assert_status: 200}\n", `User-Agent "curl/8"`},
		}
		for _, c := range cases {
			tests, _, err := Parse("s.yaml", []byte(c.doc))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			g, err := Guard(tests, live.MaxRate)
			if err != nil {
				t.Fatal(err)
			}
			if err := Screen(tests, g, true); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "s.yaml:2:3") {
				t.Errorf("%s: %v, want %q at s.yaml:2:3", c.name, err, c.want)
			}
		}
	})

	t.Run("request check", func(t *testing.T) {
		tests, _, err := Parse("s.yaml", []byte("https://test.wikipedia.org:\n- {path: /p, method: POST, json_body: {a: 1}, assert_status: 200}\n"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := Guard(tests, live.MaxRate)
		if err != nil {
			t.Fatal(err)
		}
		check := checkFor(g, tests[0], true)
		req := func(host, body string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://"+host+"/p", strings.NewReader(body))
			r.Header.Set("User-Agent", "pretrain-check (https://example.org/contact)")
			return r
		}
		if err := check(req("test.wikipedia.org", `{"a": 1}`)); err != nil {
			t.Errorf("the test's own POST: %v", err)
		}
		for name, r := range map[string]*http.Request{
			"another host":      req("evil.example.org", `{"a": 1}`),
			"another body size": req("test.wikipedia.org", `{"a": 12}`),
		} {
			if err := check(r); !errors.Is(err, live.ErrRefused) {
				t.Errorf("%s: %v, want a refusal", name, err)
			}
		}
		// Without the flag the guard's own rule holds.
		if err := checkFor(g, tests[0], false)(req("test.wikipedia.org", `{"a": 1}`)); !errors.Is(err, live.ErrRefused) {
			t.Errorf("without the flag: %v", err)
		}
	})
}

// The preflight never sends a request with a body: each POST goes out
// once, the preflight takes the suite's GET.
func TestPreflightSkipsBodies(t *testing.T) {
	t.Parallel() // waits on the rate cap
	ca, caFile := livetest.NewTestCA(t)
	rec := startRecorder(t, ca)
	tests, _, err := Parse("post.yaml", []byte(postSuite))
	if err != nil {
		t.Fatal(err)
	}
	run(t, tests, Options{Hosts: []string{rec.addr()}, CAFile: caFile, AllowPost: true, Preflight: 5 * time.Second})
	var got []string
	for _, r := range rec.requests() {
		got = append(got, r.method+" "+r.path)
	}
	want := "GET /wiki/Main_Page, POST /v1/models/scorer:predict, POST /w/api.php, POST /v1/models/scorer:explain, GET /wiki/Main_Page"
	if strings.Join(got, ", ") != want {
		t.Errorf("sent %v, want %s", got, want)
	}
}
