package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// lintFlags are the flags of `contract lint`.
type lintFlags struct {
	sources bool
}

func newContractCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contract",
		Short: "Work with routing contracts",
	}
	var flags lintFlags
	lint := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Validate routing contracts; print every problem with file:line:column",
		Long: `Validate routing contracts; print every problem with file:line:column.

Every case and budget must name its source: the production file it encodes
("<owner>/<repo> <path>@<commit>") or "planned: <task> step <n>" for
behaviour production has not enabled. A planned case must name the feature
(rollout step) it depends on and say, with expect_off, what happens while
that feature is off; a feature name the contract does not declare, or a
feature case without both expectations, is an error. --sources lists the
sources.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			var failed []string
			for _, f := range files {
				c, err := contract.Load(f)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					failed = append(failed, f)
					continue
				}
				// A check without a source is an error: nobody could tell
				// whether it encodes production or a wish.
				// A planned case without a feature would expect the plan
				// from every target, production included.
				ps := append(contract.CheckSources(c), contract.CheckFeatures(c)...)
				if len(ps) > 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), (&contract.Problems{List: ps}).Error())
					failed = append(failed, f)
					continue
				}
				// Lint findings are advice (unused backends, labels that do not
				// match the entry): printed, never failing the file.
				for _, w := range contract.Lint(c) {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: warning: %s\n", w.Pos, w.Msg)
				}
				if flags.sources {
					writeSources(cmd.OutOrStdout(), f, c)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d cases, %d of them planned, %d features, %d backends, %d entry points, %d budgets, %d shares)\n",
					f, len(c.Cases), countPlanned(c), len(c.Features), len(c.Backends), len(c.Entries), len(c.Budgets), len(c.Shares))
			}
			if len(failed) > 0 {
				return usageError(fmt.Errorf("contract lint: %d of %d files have problems", len(failed), len(files)))
			}
			return nil
		},
	}
	lint.Flags().BoolVar(&flags.sources, "sources", false, "list every source the contract cites, with the cases and budgets citing it")
	cmd.AddCommand(lint)
	return cmd
}

func countPlanned(c *contract.Contract) int {
	n := 0
	for _, cs := range c.Cases {
		if cs.Planned() {
			n++
		}
	}
	return n
}

// writeSources prints one block per source: the source, then its cases
// and budgets, indented.
func writeSources(w io.Writer, file string, c *contract.Contract) {
	fmt.Fprintf(w, "%s: sources\n", file)
	for _, u := range contract.Sources(c) {
		fmt.Fprintf(w, "  %s\n", u.Source)
		if len(u.Cases) > 0 {
			fmt.Fprintf(w, "    cases: %s\n", strings.Join(u.Cases, ", "))
		}
		if len(u.Budgets) > 0 {
			fmt.Fprintf(w, "    budgets: %s\n", strings.Join(u.Budgets, ", "))
		}
		if len(u.Shares) > 0 {
			fmt.Fprintf(w, "    shares: %s\n", strings.Join(u.Shares, ", "))
		}
	}
}
