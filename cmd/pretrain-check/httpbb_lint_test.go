package main

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live/livetest"
)

func corpusFile(name string) string { return "../../harness/httpbb/testdata/corpus/" + name }

// countingServer is a local TLS server that keeps the method, path and
// body of every request it gets.
type countingServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func startCounting(t *testing.T) (*countingServer, string) {
	t.Helper()
	ca, caFile := livetest.NewTestCA(t)
	s := &countingServer{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+string(b))
		s.mu.Unlock()
		io.WriteString(w, `{"score": 0.5}`)
	}))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s, caFile
}

func (s *countingServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func TestHttpbbLint(t *testing.T) {
	srv, _ := startCounting(t)
	code, _, stderr := execute(t, "httpbb", "--lint", "--hosts", srv.srv.Listener.Addr().String(),
		corpusFile("wikis.yaml"), corpusFile("models.yaml"), corpusFile("forms.yaml"))
	if code != 0 || !strings.Contains(stderr, "httpbb lint: 3 files, 13 tests, clean") {
		t.Errorf("clean corpus: exit %d, stderr:\n%s", code, stderr)
	}

	// Warnings (shadowed blocks) make a file unclean, each at file:line:col.
	code, _, stderr = execute(t, "httpbb", "--lint", corpusFile("shadowed.yaml"))
	f := corpusFile("shadowed.yaml")
	for _, want := range []string{
		f + `:3:1: warning: base URL "https://tracker.example.org" is repeated at ` + f + ":17:1",
		f + `:7:1: warning: base URL "https://tracker.example.org" is repeated at ` + f + ":17:1",
		f + `:19:3: warning: key "assert_status" is repeated at ` + f + ":20:3",
		"ERROR: lint httpbb files: 3 warnings",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("shadowed: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code != exitUsage {
		t.Errorf("shadowed: exit %d, want %d", code, exitUsage)
	}

	// Every problem of every file, each at file:line:col.
	bad := writeFile(t, "bad.yaml", "https://a.org:\n- path: x\n  assert_stauts: 200\n- path: /\n  method: POST\n  json_body: {a: .nan}\n  form_body: {a: 1}\n  assert_status: 200\n")
	code, _, stderr = execute(t, "httpbb", "--lint", bad, corpusFile("wikis.yaml"))
	for _, want := range []string{
		bad + `:2:9: path "x" must start with /`,
		bad + `:3:3: unknown key "assert_stauts"`,
		bad + `:6:18: json_body: ".nan" is not a finite number`,
		bad + ":7:14: json_body and form_body together",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("bad: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code != exitUsage {
		t.Errorf("bad: exit %d, want %d", code, exitUsage)
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("--lint sent %d requests", n)
	}
}

// A suite with a POST and a body: refused whole without
// --allow-post-to-production (nothing sent, the test and the flag named);
// sent with its body with the flag.
func TestHttpbbAllowPostToProduction(t *testing.T) {
	srv, caFile := startCounting(t)
	suite := writeFile(t, "models.yaml", "https://test.wikipedia.org:\n- path: /v1/models/m:predict\n  method: POST\n"+
		"  json_body: {rev_id: 7}\n  assert_status: 200\n  assert_body_contains: score\n")
	args := []string{"httpbb", suite, "--hosts", srv.srv.Listener.Addr().String(), "--ca-file", caFile, "--rate", "10"}

	code, _, stderr := execute(t, args...)
	if code != exitUsage || !strings.Contains(stderr, suite+":2:3: POST https://test.wikipedia.org/v1/models/m:predict") ||
		!strings.Contains(stderr, "it is sent only with --allow-post-to-production") {
		t.Errorf("without the flag: exit %d, stderr:\n%s", code, stderr)
	}
	if n := len(srv.requests()); n != 0 {
		t.Fatalf("without the flag %d requests were sent", n)
	}

	code, _, stderr = execute(t, append(args, "--allow-post-to-production")...)
	if code != 0 {
		t.Errorf("with the flag: exit %d, stderr:\n%s", code, stderr)
	}
	got := srv.requests()
	if len(got) != 1 || got[0] != `POST /v1/models/m:predict application/json {"rev_id": 7}` {
		t.Errorf("with the flag sent %q", got)
	}
}
