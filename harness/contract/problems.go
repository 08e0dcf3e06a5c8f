package contract

import "gitlab.wikimedia.org/repos/sre/pretrain-check/harness/yamlpos"

// Position is where something was written: file:line:column.
type Position = yamlpos.Position

// Problem is one thing wrong with a contract, where it was written.
type Problem = yamlpos.Problem

// Problems is every problem found in a contract. Load and Parse return it
// (as *Problems) so callers can list all problems at once; Error lists them
// one per line, in file order.
type Problems = yamlpos.Problems

// sortProblems orders problems by position (stable: same position keeps
// the order found).
func sortProblems(ps []Problem) { yamlpos.Sort(ps) }
