package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func hostname() (string, error) { return "mw-pretrain.eqiad.main-6d5f7c9b8-x2v4q", nil }

func TestRunExitCodes(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel() // serve, then shut down at once

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdout     string
		stderr     []string
		noStderrOf string
	}{
		{name: "help", args: []string{"--help"}, code: 0, stdout: "MWSTUB_FORWARD_LISTEN"},
		{name: "bad env value", args: []string{"--listen", "127.0.0.1:0"}, env: map[string]string{"MWSTUB_ERROR_RATE": "lots"},
			code: 2, stderr: []string{`ERROR: invalid MWSTUB_ERROR_RATE "lots"`, "--help"}},
		{name: "bad flag value", args: []string{"--latency", "soon"}, code: 2, stderr: []string{`ERROR: invalid --latency "soon"`}},
		{name: "env wins over a bad flag", args: []string{"--listen", "127.0.0.1:0", "--status", "999"},
			env: map[string]string{"MWSTUB_STATUS": "503"}, code: 0, noStderrOf: "ERROR"},
		{name: "unknown flag", args: []string{"--nope"}, code: 2, stderr: []string{"ERROR: parse flags", "nope"}},
		{name: "missing release", args: []string{"--pod", "plain", "--namespace", "ns"}, code: 2,
			stderr: []string{"release is required: set --release or MWSTUB_RELEASE"}},
		{name: "port in use", args: []string{"--listen", busy.Addr().String()}, code: 1, stderr: []string{"ERROR: start stub: listen on"}},
		{name: "serves and shuts down", args: []string{"--listen", "127.0.0.1:0", "--forward-listen", "127.0.0.1:0"}, code: 0,
			stderr: []string{"msg=serving", "shutting down"}, noStderrOf: "ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(done, tc.args, env(tc.env), hostname, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit code: expected %d, got %d\nstderr: %s", tc.code, code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout: expected %q in\n%s", tc.stdout, stdout.String())
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr: expected %q in\n%s", want, stderr.String())
				}
			}
			if tc.noStderrOf != "" && strings.Contains(stderr.String(), tc.noStderrOf) {
				t.Errorf("stderr: expected no %q in\n%s", tc.noStderrOf, stderr.String())
			}
		})
	}
}
