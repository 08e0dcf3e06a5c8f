package cluster

import (
	"fmt"
	"io"
	"strings"
	"sync"

	kindlog "sigs.k8s.io/kind/pkg/log"
)

// kindLogger passes kind's warnings and errors to the logger, indented
// under the current step; its status chatter (V(0) and above) is dropped:
// the steps report progress.
type kindLogger struct {
	mu sync.Mutex
	w  io.Writer
}

var _ kindlog.Logger = (*kindLogger)(nil)

func (l *kindLogger) print(kind, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		fmt.Fprintf(l.w, "      kind %s: %s\n", kind, line)
	}
}

func (l *kindLogger) Warn(message string) { l.print("warning", message) }
func (l *kindLogger) Warnf(format string, args ...any) {
	l.print("warning", fmt.Sprintf(format, args...))
}
func (l *kindLogger) Error(message string) { l.print("error", message) }
func (l *kindLogger) Errorf(format string, args ...any) {
	l.print("error", fmt.Sprintf(format, args...))
}
func (l *kindLogger) V(kindlog.Level) kindlog.InfoLogger { return kindlog.NoopInfoLogger{} }
