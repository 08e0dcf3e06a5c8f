package stub

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchLoopback measures h over real loopback HTTP: a server on 127.0.0.1
// and a keep-alive client, requests sent from b.RunParallel goroutines.
// Compare BenchmarkLoopbackStub with BenchmarkLoopbackBare (the target is
// stub >= 80% of bare throughput).
//
// On a shared machine wall time swings with other load; "cpu-ns/op" (the
// process's user+system CPU per request, client and server together) and
// BenchmarkLoopbackPaired are steadier ways to compare.
func benchLoopback(b *testing.B, h http.Handler) {
	url := serveLoopback(b, h)
	client := benchClient(b)

	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := benchRequest(url)
		for pb.Next() {
			if !doBench(b, client, req) {
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkLoopbackPaired sends bare and stub requests alternately from the
// same goroutines, so both see the same machine load, and reports the
// stub's throughput as a percentage of the bare handler's (at equal
// concurrency, the ratio of their mean latencies).
func BenchmarkLoopbackPaired(b *testing.B) {
	bareURL := serveLoopback(b, bareHandler())
	stubURL := serveLoopback(b, mustHandler(b, Config{Identity: webIdentity()}))
	client := benchClient(b)
	var bareNs, stubNs atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		bare, stub := benchRequest(bareURL), benchRequest(stubURL)
		for i := 0; pb.Next(); i++ {
			// Alternate which goes first so neither always meets a warm path.
			first, firstNs, second, secondNs := bare, &bareNs, stub, &stubNs
			if i%2 == 1 {
				first, firstNs, second, secondNs = stub, &stubNs, bare, &bareNs
			}
			t0 := time.Now()
			if !doBench(b, client, first) {
				return
			}
			t1 := time.Now()
			if !doBench(b, client, second) {
				return
			}
			firstNs.Add(int64(t1.Sub(t0)))
			secondNs.Add(int64(time.Since(t1)))
		}
	})
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(bareNs.Load())/n, "bare-ns/req")
	b.ReportMetric(float64(stubNs.Load())/n, "stub-ns/req")
	b.ReportMetric(100*float64(bareNs.Load())/float64(stubNs.Load()), "stub-%-of-bare")
}

func serveLoopback(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/wiki/Main_Page"
}

func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func benchRequest(url string) *http.Request {
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = testwiki
	req.Header.Set("User-Agent", "pretrain-check-bench")
	req.Header.Set("X-Request-Id", "bench")
	return req
}

func doBench(b *testing.B, client *http.Client, req *http.Request) bool {
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("status %d", resp.StatusCode)
		return false
	}
	return true
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

var bareBody = []byte("ok\n")

func bareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(bareBody)
	})
}

func BenchmarkLoopbackBare(b *testing.B) { benchLoopback(b, bareHandler()) }

func BenchmarkLoopbackStub(b *testing.B) {
	benchLoopback(b, mustHandler(b, Config{Identity: webIdentity()}))
}

// BenchmarkHandler is the stub's own cost per echo, without the network.
func BenchmarkHandler(b *testing.B) {
	h := mustHandler(b, Config{Identity: webIdentity()})
	r := httptest.NewRequest("GET", "/wiki/Main_Page", nil)
	r.Host = testwiki
	r.Header.Set("User-Agent", "pretrain-check-bench")
	r.Header.Set("X-Request-Id", "bench")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
