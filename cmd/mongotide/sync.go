package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongotide/mongotide/gateway/client"
	mtsync "github.com/mongotide/mongotide/sync"
)

// syncFlags are the connection flags every sync command shares.
type syncFlags struct {
	local, remote     string
	db, remoteDB      string
	collections       []string
	batch             int
	policy, replicaID string
	// gateway and tokenFile: the remote is a gateway reached with the
	// token in that file (instead of --remote).
	gateway, tokenFile string
}

func (f *syncFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.local, "local", "", "connection URI of the local MongoDB (required)")
	fs.StringVar(&f.remote, "remote", "", "connection URI of the remote MongoDB, e.g. Atlas (required)")
	fs.StringVar(&f.db, "db", "", "database name (required)")
	fs.StringVar(&f.remoteDB, "remote-db", "", "remote database name (default: --db)")
	fs.StringSliceVarP(&f.collections, "collections", "c", nil, "collections to sync, comma separated (required)")
	fs.IntVar(&f.batch, "batch", 0, "bootstrap batch size (default 500)")
	fs.StringVar(&f.policy, "conflict", "last-writer-wins", "conflict policy: last-writer-wins, field-merge, remote-wins, local-wins")
	fs.StringVar(&f.replicaID, "replica-id", "", "replica id (default: generated once, kept in the local database)")
	fs.StringVar(&f.gateway, "gateway", "", "sync through this mongotide gateway (its base URL) instead of --remote: the device holds only a token")
	fs.StringVar(&f.tokenFile, "token-file", "", "with --gateway: file holding the bearer token (read again before every request, so a refreshed token is picked up)")
}

var policies = map[string]mtsync.ConflictPolicy{
	"last-writer-wins": mtsync.LastWriterWins,
	"remote-wins":      mtsync.RemoteWins,
	"local-wins":       mtsync.LocalWins,
	"field-merge":      mtsync.FieldMerge,
}

// open connects both sides and builds a Syncer (not started). close
// disconnects the clients.
func (f *syncFlags) open(ctx context.Context, cfg mtsync.Config) (*mtsync.Syncer, func(), error) {
	var missing []string
	required := map[string]string{"--local": f.local, "--remote": f.remote, "--db": f.db}
	if f.gateway != "" {
		if f.remote != "" {
			return nil, nil, usageError{errors.New("sync: --remote and --gateway exclude each other")}
		}
		delete(required, "--remote")
		required["--token-file"] = f.tokenFile
	}
	for name, v := range required {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(f.collections) == 0 {
		missing = append(missing, "--collections")
	}
	if len(missing) > 0 {
		return nil, nil, usageError{fmt.Errorf("sync: missing %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))}
	}
	policy, ok := policies[f.policy]
	if !ok {
		return nil, nil, usageError{fmt.Errorf("sync: --conflict %q is not one of last-writer-wins, field-merge, remote-wins, local-wins", f.policy)}
	}
	lc, err := mongo.Connect(options.Client().ApplyURI(f.local))
	if err != nil {
		return nil, nil, fmt.Errorf("sync: connect --local: %w", err)
	}
	if f.gateway != "" {
		return f.openGateway(ctx, cfg, lc, policy)
	}
	rc, err := mongo.Connect(options.Client().ApplyURI(f.remote))
	if err != nil {
		_ = lc.Disconnect(context.WithoutCancel(ctx))
		return nil, nil, fmt.Errorf("sync: connect --remote: %w", err)
	}
	closeAll := func() {
		// Both at once, briefly: Disconnect ends sessions on each server,
		// and a server that is gone (a local mongod stopped by the same
		// Ctrl-C) makes it wait out its deadline; nothing is lost by
		// giving up, the process is ending.
		disconnectAll(context.WithoutCancel(ctx), lc, rc)
	}
	remoteDB := f.remoteDB
	if remoteDB == "" {
		remoteDB = f.db
	}
	cfg.Local, cfg.Remote = lc.Database(f.db), rc.Database(remoteDB)
	return f.build(cfg, policy, closeAll)
}

// openGateway builds a Syncer whose remote is --gateway, signed in with
// the token of --token-file.
func (f *syncFlags) openGateway(ctx context.Context, cfg mtsync.Config, lc *mongo.Client, policy mtsync.ConflictPolicy) (*mtsync.Syncer, func(), error) {
	gc, err := client.New(client.Config{
		BaseURL: f.gateway,
		TokenSource: func(context.Context) (string, error) {
			b, err := os.ReadFile(f.tokenFile)
			if err != nil {
				return "", fmt.Errorf("--token-file: %w", err)
			}
			return strings.TrimSpace(string(b)), nil
		},
	})
	closeAll := func() {
		if gc != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), disconnectGrace)
			_ = gc.Close(dctx)
			cancel()
		}
		disconnectAll(context.WithoutCancel(ctx), lc)
	}
	if err != nil {
		closeAll()
		return nil, nil, usageError{fmt.Errorf("sync: --gateway: %w", err)}
	}
	if policy != mtsync.FieldMerge {
		// The gateway's policy decides; only field-merge changes what the
		// device does (it keeps and sends base documents).
		policy = mtsync.LastWriterWins
		if f.policy != "last-writer-wins" {
			closeAll()
			return nil, nil, usageError{fmt.Errorf("sync: --conflict %s with --gateway: the gateway's policy decides (give field-merge when the gateway's is, else leave it)", f.policy)}
		}
	}
	cfg.Local, cfg.Gateway = lc.Database(f.db), gc
	return f.build(cfg, policy, closeAll)
}

// build fills cfg's shared fields from the flags and makes the Syncer; on
// an error it calls closeAll (an invalid config is a usage error).
func (f *syncFlags) build(cfg mtsync.Config, policy mtsync.ConflictPolicy, closeAll func()) (*mtsync.Syncer, func(), error) {
	cfg.Collections, cfg.BatchSize, cfg.Conflict, cfg.ReplicaID = f.collections, f.batch, policy, f.replicaID
	s, err := mtsync.New(cfg)
	if err != nil {
		closeAll()
		if errors.Is(err, mtsync.ErrInvalidConfig) {
			return nil, nil, usageError{err}
		}
		return nil, nil, err
	}
	return s, closeAll, nil
}

func newSyncCmd(stdout, stderr io.Writer) *cobra.Command {
	var f syncFlags
	var quiet bool
	var localDir, localAddr string
	var uploadRate float64
	var uploadBurst int
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Keep a local MongoDB and a remote one in step, both ways (offline-first)",
		Long: `Runs the sync until interrupted (Ctrl-C): the first time, each collection is copied from
the remote (with a progress bar), then changes flow both ways. Local writes made while the remote
is unreachable upload when it returns. With --local-dir the local database is an embedded
server persisted in that directory (a ready offline-first store): its URI, for the app to
connect to, is printed on stdout as "local: URI". With --gateway URL --token-file FILE instead
of --remote, the remote is a mongotide gateway (mongotide serve) and the device holds only a
token. See docs/sync.md.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			bars := map[string]*progressbar.ProgressBar{}
			cfg := mtsync.Config{
				OnError: func(err error) { fmt.Fprintln(stderr, "sync:", err) },
				OnOnline: func() {
					fmt.Fprintln(stderr, "sync: remote online")
				},
				OnOffline:   func(err error) { fmt.Fprintln(stderr, "sync: remote offline:", err) },
				UploadRate:  uploadRate,
				UploadBurst: uploadBurst,
			}
			if !quiet {
				// Called from each collection's goroutine; one bar each.
				var mu sync.Mutex
				cfg.OnBootstrap = func(p mtsync.BootstrapProgress) {
					mu.Lock()
					defer mu.Unlock()
					bar := bars[p.Collection]
					if bar == nil {
						bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(stderr),
							progressbar.OptionSetDescription("bootstrap "+p.Collection),
							progressbar.OptionShowCount(), progressbar.OptionSetItsString("docs"), progressbar.OptionShowIts())
						bars[p.Collection] = bar
					}
					_ = bar.Set64(p.Copied)
					if p.Done {
						_ = bar.Finish()
						fmt.Fprintln(stderr)
					}
				}
			}
			if localDir != "" {
				// Deferred first, so it runs last: the server outlives the
				// syncer's final checkpoint saves and the client.
				srv, err := startLocalStore(ctx, &f, localDir, localAddr, stdout)
				if err != nil {
					return err
				}
				defer func() {
					sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeStopGrace)
					defer cancel()
					if err := srv.Stop(sctx); err != nil {
						fmt.Fprintln(stderr, "sync: stop local store:", err)
					}
				}()
			}
			s, closeAll, err := f.open(ctx, cfg)
			if err != nil {
				return err
			}
			defer closeAll()
			if err := s.Start(ctx); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "syncing %s (Ctrl-C to stop)\n", strings.Join(f.collections, ", "))
			<-ctx.Done()
			return stopSyncer(ctx, s, stderr)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().StringVar(&localDir, "local-dir", "", "run the local database embedded, persisted in this directory (instead of --local); its URI is printed as \"local: URI\"")
	cmd.Flags().Float64Var(&uploadRate, "upload-rate", 0, "at most this many uploads per second (0: unlimited), so that a replica back online after a long outage does not flood the remote")
	cmd.Flags().IntVar(&uploadBurst, "upload-burst", 0, "with --upload-rate: uploads that may go at once after an idle spell (default: one second's worth)")
	cmd.Flags().StringVar(&localAddr, "local-addr", "127.0.0.1:0", "with --local-dir: address the embedded local database listens on (host:port)")
	cmd.AddCommand(newSyncStatusCmd(&f, stdout), newSyncConflictsCmd(&f, stdout), newSyncReconcileCmd(&f, stdout), newSyncResetLocalCmd(&f, stdout), newSyncVerifyCmd(&f, stdout), newSyncReplicasCmd(&f, stdout), newSyncCompactCmd(&f, stdout))
	return cmd
}

func newSyncReconcileCmd(f *syncFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "reconcile",
		Short: "Compare both sides with the last agreed versions and sync every difference",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, closeAll, err := f.open(cmd.Context(), mtsync.Config{})
			if err != nil {
				return err
			}
			defer closeAll()
			res, err := s.Reconcile(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "uploaded %d, downloaded %d\n", res.Uploaded, res.Downloaded)
			return nil
		},
	}
}

func newSyncConflictsCmd(f *syncFlags, stdout io.Writer) *cobra.Command {
	var coll string
	list := func(cmd *cobra.Command, _ []string) error {
		s, closeAll, err := f.open(cmd.Context(), mtsync.Config{})
		if err != nil {
			return err
		}
		defer closeAll()
		cs, err := s.Conflicts(cmd.Context(), coll)
		if err != nil {
			return err
		}
		for _, c := range cs {
			fields := ""
			if len(c.Fields) > 0 {
				fields = "\tfields=" + strings.Join(c.Fields, ",")
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\tkept=%s\t%s%s\n", c.ID, c.Collection, c.DocumentID, c.Kept, c.At.Format(time.RFC3339), fields)
		}
		return nil
	}
	byID := func(use, short string, do func(*mtsync.Syncer, context.Context, string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, closeAll, err := f.open(cmd.Context(), mtsync.Config{})
				if err != nil {
					return err
				}
				defer closeAll()
				if err := do(s, cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintln(stdout, use, args[0])
				return nil
			},
		}
	}
	cmd := &cobra.Command{
		Use:   "conflicts",
		Short: "List the conflict log (retry or dismiss entries with the subcommands)",
		Args:  exactArgs(0),
		RunE:  list,
	}
	cmd.Flags().StringVar(&coll, "collection", "", "only this collection")
	cmd.AddCommand(
		byID("retry", "Make the losing edit of a conflict win (it syncs as a new local edit)", (*mtsync.Syncer).RetryConflict),
		byID("dismiss", "Accept a conflict's outcome and remove it from the log", (*mtsync.Syncer).DismissConflict),
	)
	return cmd
}
