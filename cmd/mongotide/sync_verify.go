package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"

	mtsync "github.com/mongotide/mongotide/sync"
)

// errDiverged makes `sync verify` exit non-zero when a document diverged.
var errDiverged = errors.New("sync verify: documents diverged (run `mongotide sync reconcile` to repair)")

func newSyncVerifyCmd(f *syncFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Checksum both sides and list the documents that differ (pending, conflict, diverged)",
		Long: `Compares each collection on both sides without stopping a running sync: document counts,
order-independent checksums, and each differing document with the reason. pending: a change one
side has not synced yet; conflict: in the conflict log; diverged: both sides stand as last synced
yet differ (sync will not repair it on its own; "mongotide sync reconcile" does). Exits 1 when a
document diverged. Lists at most 1000 documents per collection (the counts cover all).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, closeAll, err := f.open(ctx, mtsync.Config{})
			if err != nil {
				return err
			}
			defer closeAll()
			rep, err := s.Verify(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, "COLLECTION\tLOCAL\tREMOTE\tLOCAL SUM\tREMOTE SUM\tPENDING\tCONFLICT\tDIVERGED")
			for _, c := range rep.Collections {
				fmt.Fprintf(stdout, "%s\t%d\t%d\t%s\t%s\t%d\t%d\t%d\n", c.Name, c.LocalDocs, c.RemoteDocs, c.LocalSum, c.RemoteSum,
					c.Differing[mtsync.DiffPending], c.Differing[mtsync.DiffConflict], c.Differing[mtsync.DiffDiverged])
			}
			for _, c := range rep.Collections {
				for _, d := range c.Diffs {
					fmt.Fprintf(stdout, "%s\t%s\t%s\n", c.Name, idString(d.ID), d.Reason)
				}
			}
			if rep.Diverged() {
				return errDiverged
			}
			return nil
		},
	}
}

// idString prints an _id as relaxed extended JSON (5, "abc", {"$oid": ...}).
func idString(id bson.RawValue) string {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: id}}, false, false)
	if err != nil {
		return id.String()
	}
	s := string(b)
	return s[len(`{"v":`) : len(s)-1]
}
