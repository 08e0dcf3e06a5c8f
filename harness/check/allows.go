package check

import "gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"

// allows reports whether a response served by got satisfies expected (a
// backend or a group), through the contract; without a contract only the
// exact name does.
func allows(c *contract.Contract, expected, got string) bool {
	if c == nil {
		return got != "" && got == expected
	}
	return c.Allows(expected, got)
}

// groupMembers lists the backends a group stands for; nil for a plain
// backend, an unknown name or no contract.
func groupMembers(c *contract.Contract, name string) []string {
	if c == nil {
		return nil
	}
	b, ok := c.Backends[name]
	if !ok || !b.IsGroup() {
		return nil
	}
	return c.Resolve(name)
}
