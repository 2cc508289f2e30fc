package engine

import "os"

// Permissions of what the engine creates under Dir. The data is the
// database: like mongod's files, it is readable by the server's own user
// only (issue 10: files were 0644 in a 0755 directory, readable by every
// local user). An existing Dir keeps the mode its owner gave it.
const (
	// DataFileMode is the mode of journals, snapshots and the lock file.
	DataFileMode os.FileMode = 0o600
	// DataDirMode is the mode of a data directory the engine creates.
	DataDirMode os.FileMode = 0o700
)
