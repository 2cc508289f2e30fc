package main

import (
	"io"

	"github.com/spf13/cobra"
)

// subcommands lists the CLI's commands in the order help shows them.
func subcommands(stdout, stderr io.Writer) []*cobra.Command {
	return []*cobra.Command{
		newDemoCmd(stdout, stderr),
		newEmbeddedCmd(stdout, stderr),
		newListenCmd(stdout, stderr),
		newBenchCmd(stdout, stderr),
		newSyncCmd(stdout, stderr),
		newRelayCmd(stdout, stderr),
		newServeCmd(stdout, stderr),
	}
}
