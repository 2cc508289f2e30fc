package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	mtsync "github.com/mongotide/mongotide/sync"
	"github.com/spf13/cobra"
)

func newSyncReplicasCmd(f *syncFlags, stdout io.Writer) *cobra.Command {
	var forget string
	cmd := &cobra.Command{
		Use:   "replicas",
		Short: "List the replicas registered on the remote (id, name, last seen, how far each has synced)",
		Long: `Reads the remote's replica registry: every replica that synced with it records its name,
version, last time seen (remote clock) and, per collection, the remote cluster time through
which it has synced. STATE is "this" for the replica of --local, "active" when seen within
the last minute, else "away" (with how long). --forget ID removes a retired replica.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, closeAll, err := f.open(ctx, mtsync.Config{})
			if err != nil {
				return err
			}
			defer closeAll()
			if forget != "" {
				if err := s.ForgetReplica(ctx, forget); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "forgot replica %s\n", forget)
				return nil
			}
			rs, err := s.Replicas(ctx)
			if err != nil {
				return err
			}
			self, _ := s.LocalReplicaID(ctx)
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tVERSION\tLAST SEEN\tSYNCED PAST\tSTATE")
			for _, r := range rs {
				state := "active"
				switch age := time.Since(r.LastSeen); {
				case r.ID == self:
					state = "this"
				case age > time.Minute:
					state = "away " + age.Round(time.Second).String()
				}
				past := "-"
				if ts := r.MinSyncedPast(); !ts.IsZero() {
					past = time.Unix(int64(ts.T), 0).UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Version, r.LastSeen.UTC().Format(time.RFC3339), past, state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&forget, "forget", "", "remove this replica id from the registry")
	return cmd
}

func newSyncCompactCmd(f *syncFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "compact",
		Short: "Collect the remote's tombstones that no registered replica still needs",
		Long: `Removes, on the remote, the version entries of deleted documents written before every
registered replica's synced-past position (see 'mongotide sync replicas') or before the
retention window (30 days). Safe while replicas sync. A running sync compacts every hour.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, closeAll, err := f.open(ctx, mtsync.Config{})
			if err != nil {
				return err
			}
			defer closeAll()
			res, err := s.Compact(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "COLLECTION\tREMOVED\tBEFORE")
			for _, c := range res.Collections {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", c.Name, c.Removed, time.Unix(int64(c.Before.T), 0).UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
}
