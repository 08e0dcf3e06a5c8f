package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pretrain-check",
		Short: "Conformance and smoke tests for Wikimedia's Pretrain environment",
		Long: `pretrain-check sends the requests of the routing contract to an environment
(a kind replica, a static target or the live testwiki) and reports who served
each one, with the evidence.

Exit codes: 0 all checks passed, 1 a check failed, 2 bad usage or input,
3 the environment could not be reached or brought up.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newRunCommand(), newContractCommand(), newVersionCommand(), newHttpbbCommand(), newUpCommand(), newDownCommand(), newRoutesCommand())
	return cmd
}
