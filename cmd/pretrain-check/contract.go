package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

func newContractCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contract",
		Short: "Work with routing contracts",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "lint FILE...",
		Short: "Validate routing contracts; print every problem with file:line:column",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			var failed []string
			for _, f := range files {
				c, err := contract.Load(f)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					failed = append(failed, f)
					continue
				}
				// Lint findings are advice (unused backends, labels that do not
				// match the entry): printed, never failing the file.
				for _, w := range contract.Lint(c) {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: warning: %s\n", w.Pos, w.Msg)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d cases, %d backends, %d entry points, %d budgets)\n",
					f, len(c.Cases), len(c.Backends), len(c.Entries), len(c.Budgets))
			}
			if len(failed) > 0 {
				return usageError(fmt.Errorf("contract lint: %d of %d files have problems", len(failed), len(files)))
			}
			return nil
		},
	})
	return cmd
}
