package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/mongotide/mongotide/embedded"
	"github.com/spf13/cobra"
)

func newEmbeddedCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfg embedded.Config
	var verbose bool
	var exposure exposureFlags
	cmd := &cobra.Command{
		Use:   "embedded",
		Short: "Start an embedded MongoDB-compatible replica set and print its URI",
		Long: `Starts the embedded single-node replica set, prints its connection URI on stdout,
and serves until interrupted (Ctrl-C). With --dir, data and oplog persist across restarts, so
change streams resume across them.

Exposure: the default --addr is loopback only. Beyond it, use --auth with --user NAME:PASSWORD
(or --users-file) and --tls-cert/--tls-key: otherwise anyone who reaches the port owns the data,
and a warning says so. Test commands (configureFailPoint) are on for an in-memory server and off
with --dir unless --enable-test-commands says otherwise.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			if err := exposure.apply(cmd.Flags(), &cfg, stderr); err != nil {
				return err
			}
			srv, err := embedded.Start(ctx, cfg)
			if err != nil {
				return err
			}
			for _, d := range srv.RepairReport().Dropped {
				fmt.Fprintf(stderr, "mongotide: repair dropped %s\n", d)
			}
			fmt.Fprintln(stdout, srv.URI())
			<-ctx.Done()
			return srv.Stop(context.WithoutCancel(ctx))
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", embedded.DefaultAddr, "address to listen on (host:port)")
	f.StringVar(&cfg.ReplicaSetName, "replset", embedded.DefaultReplicaSetName, "replica set name")
	f.IntVar(&cfg.OplogCapacity, "oplog", embedded.DefaultOplogCapacity, "oplog capacity in entries")
	f.Int64Var(&cfg.OplogSizeBytes, "oplog-size-bytes", embedded.DefaultOplogSizeBytes, "oplog bound in bytes (whole documents counted)")
	f.DurationVar(&cfg.SnapshotHistoryWindow, "snapshot-window", embedded.DefaultSnapshotWindow, "how long snapshot reads at an earlier cluster time keep working")
	f.DurationVar(&cfg.TTLMonitorInterval, "ttl-interval", embedded.DefaultTTLMonitorInterval, "how often TTL indexes delete expired documents")
	f.StringVar(&cfg.Dir, "dir", "", "data directory (default: memory only)")
	f.BoolVar(&cfg.Repair, "repair", false, "with --dir: open a damaged data directory, keeping every intact record and reporting what was dropped")
	f.StringVar((*string)(&cfg.Sync), "sync", string(embedded.SyncJournaled), "with --dir: journaled (fsync for j:true, w:majority and commits, else every --commit-interval) or always")
	f.DurationVar(&cfg.CommitInterval, "commit-interval", embedded.DefaultCommitInterval, "with --dir: how often the journal is fsynced in the background (mongod's commitIntervalMs)")
	exposure.register(f, &cfg)
	f.BoolVarP(&verbose, "verbose", "v", false, "log connections and every command (name, namespace, duration, error code) to stderr")
	return cmd
}

// startEmbeddedDefault starts the embedded server with its defaults, logging
// nothing: commands run without --uri use it.
func startEmbeddedDefault(ctx context.Context) (*embedded.Server, error) {
	return embedded.Start(ctx, embedded.Config{})
}
