package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// cmd describes one command of a step.
type cmd struct {
	args   []string
	dir    string
	env    []string  // added to the environment
	stdin  io.Reader // nil: no input
	stdout io.Writer // nil: captured and returned by run
	nice   bool      // lower the priority (CPU-heavy builds)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// stepLog is where a step's commands write their output.
type stepLog struct {
	step   string
	out    io.Writer     // the step's log file
	waited time.Duration // time spent waiting for the CPU token (not the step's own)
}

// argv returns the command line actually run (with nice when asked).
func (b *builder) argv(c cmd) []string {
	if c.nice && b.opts.Nice > 0 {
		return append([]string{"nice", "-n", strconv.Itoa(b.opts.Nice)}, c.args...)
	}
	return c.args
}

func (b *builder) command(ctx context.Context, l *stepLog, c cmd, tail *tailBuffer, stdout io.Writer) *exec.Cmd {
	argv := b.argv(c)
	x := exec.CommandContext(ctx, argv[0], argv[1:]...)
	x.Dir = c.dir
	x.Env = append(os.Environ(), c.env...)
	x.Stdin = c.stdin
	fmt.Fprintf(l.out, "+ %s\n", shellJoin(argv))
	x.Stdout = io.MultiWriter(stdout, l.out, tail)
	x.Stderr = io.MultiWriter(l.out, tail)
	x.WaitDelay = 10 * time.Second
	return x
}

// run runs a command and returns its standard output (unless c.stdout takes
// it). A failure is a *CommandError with the tail of the command's output.
func (b *builder) run(ctx context.Context, l *stepLog, c cmd) (string, error) {
	var out bytes.Buffer
	var w io.Writer = &out
	if c.stdout != nil {
		w = c.stdout
	}
	tail := &tailBuffer{max: 3000}
	x := b.command(ctx, l, c, tail, w)
	if err := x.Run(); err != nil {
		return out.String(), &CommandError{Args: b.argv(c), Dir: c.dir, Tail: tail.String(), Err: err}
	}
	return out.String(), nil
}

// pipe runs producer | consumer. Either failing fails the pipe, producer
// first: a consumer that succeeded on truncated input is still an error.
func (b *builder) pipe(ctx context.Context, l *stepLog, producer, consumer cmd) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	var out bytes.Buffer
	ptail, ctail := &tailBuffer{max: 3000}, &tailBuffer{max: 3000}
	p := b.command(ctx, l, producer, ptail, pw)
	// the producer's output goes only to the pipe, not to the log
	p.Stdout = pw
	consumer.stdin = pr
	c := b.command(ctx, l, consumer, ctail, &out)
	if err := c.Start(); err != nil {
		return "", &CommandError{Args: b.argv(consumer), Err: err}
	}
	perr := p.Run()
	pw.CloseWithError(perr)
	if perr != nil {
		cancel()
	}
	cerr := c.Wait()
	pr.Close()
	switch {
	case perr != nil:
		return "", &CommandError{Args: b.argv(producer), Dir: producer.dir, Tail: ptail.String(), Err: perr}
	case cerr != nil:
		return "", &CommandError{Args: b.argv(consumer), Dir: consumer.dir, Tail: ctail.String(), Err: cerr}
	}
	return out.String(), nil
}

// exitedNonZero reports whether err is a command that ran and failed (as
// opposed to one that could not start or was cancelled).
func exitedNonZero(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// runQuiet runs a command outside any step (planning) and returns its output.
func runQuiet(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	x := exec.CommandContext(ctx, args[0], args[1:]...)
	x.Dir = dir
	x.Env = append(os.Environ(), env...)
	tail := &tailBuffer{max: 3000}
	x.Stderr = tail
	out, err := x.Output()
	if err != nil {
		return "", &CommandError{Args: args, Dir: dir, Tail: tail.String(), Err: err}
	}
	return string(out), nil
}
