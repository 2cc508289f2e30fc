package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	mtsync "github.com/mongotide/mongotide/sync"
)

func newSyncStatusCmd(f *syncFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show, per collection, whether it is bootstrapped, pending local changes and open conflicts",
		Long: `Reads the local database only, so it works while the remote is unreachable and while
another process runs the sync. Pending counts local documents that differ from the last version
both sides agreed on (it scans each collection).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, closeAll, err := f.open(ctx, mtsync.Config{})
			if err != nil {
				return err
			}
			defer closeAll()
			boot, err := s.Bootstrapped(ctx)
			if err != nil {
				return err
			}
			pending, err := s.Pending(ctx)
			if err != nil {
				return err
			}
			conflicts, err := s.Conflicts(ctx, "")
			if err != nil {
				return err
			}
			open := map[string]int{}
			for _, c := range conflicts {
				open[c.Collection]++
			}
			fmt.Fprintln(stdout, "COLLECTION\tBOOTSTRAPPED\tPENDING\tCONFLICTS")
			for _, name := range slices.Sorted(slices.Values(f.collections)) {
				fmt.Fprintf(stdout, "%s\t%v\t%d\t%d\n", name, boot[name], pending[name], open[name])
			}
			return nil
		},
	}
}

func newSyncResetLocalCmd(f *syncFlags, stdout io.Writer) *cobra.Command {
	var force, yes bool
	cmd := &cobra.Command{
		Use:   "reset-local",
		Short: "Drop the synced collections and sync state locally, so the next sync bootstraps again",
		Long: `Drops the synced collections from the local database with their checkpoints, versions,
bootstrap progress and conflict log. Refuses while local changes are pending (they would be lost)
unless --force. Asks for confirmation unless --yes. Do not run it while a sync runs.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if !yes {
				fmt.Fprintf(stdout, "Drop %s from local database %q and reset their sync state? Type yes: ", strings.Join(f.collections, ", "), f.db)
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(answer) != "yes" {
					return fmt.Errorf("sync reset-local: not confirmed")
				}
			}
			s, closeAll, err := f.open(ctx, mtsync.Config{})
			if err != nil {
				return err
			}
			defer closeAll()
			if err := s.ResetLocal(ctx, mtsync.ResetLocalOptions{DiscardPending: force}); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "local reset; the next sync bootstraps from the remote")
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "reset even though local changes are pending (they are lost)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}
