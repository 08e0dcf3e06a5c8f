package images

import (
	"fmt"
	"strings"
)

// CommandError is a command that failed, with the tail of its output.
type CommandError struct {
	Args []string // the command line
	Dir  string   // its working directory, when not the caller's
	Tail string   // last lines of its combined output
	Err  error
}

func (e *CommandError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s: %v", shellJoin(e.Args), e.Err)
	if e.Dir != "" {
		fmt.Fprintf(&b, " (in %s)", e.Dir)
	}
	if t := strings.TrimSpace(e.Tail); t != "" {
		b.WriteString("\n    | ")
		b.WriteString(strings.ReplaceAll(t, "\n", "\n    | "))
	}
	return b.String()
}

func (e *CommandError) Unwrap() error { return e.Err }

// StepError names the step of the plan that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q: %v", e.Step, e.Err) }

func (e *StepError) Unwrap() error { return e.Err }

// shellJoin renders a command line that can be pasted into a shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
