//go:build !race

package sync

import "testing"

// Two 9 MB edits: together over MongoDB's 16 MiB document limit, so an
// entry holding both could never be written. Too slow under the race
// detector (TestConflictOfLargeDocuments covers the logic there).
func TestConflictOfLargeDocumentsRealSize(t *testing.T) {
	runLargeConflict(t, 9<<20, nil)
}
