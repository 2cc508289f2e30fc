//go:build !unix

package resume

// lockFile is a no-op where flock is unavailable: FileStore.SaveFenced
// then serialises only the goroutines of one process.
func lockFile(string) (func(), error) { return func() {}, nil }
