package routing

import "gitlab.wikimedia.org/repos/sre/pretrain-check/harness/yamlpos"

// Position is where something was written: file:line:column (1-based).
// The zero Position means "not known"; one without a line is a whole file.
type Position = yamlpos.Position

// Problem is one thing wrong with the input, where it was written.
type Problem = yamlpos.Problem

// Problems is every problem found in the input. Load (and the Istio model's
// New) return it as *Problems so a caller can list all problems at once;
// Error lists them one per line, in file order.
type Problems = yamlpos.Problems
