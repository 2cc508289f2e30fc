package sync

// syncOutcome is how the handling of one document change ended. The debug
// log names it (String); the engine decides the local write, counters and
// SyncEvents from it.
type syncOutcome int

const (
	// outcomeNone: nothing decided yet (or the attempt failed).
	outcomeNone syncOutcome = iota
	// outcomeRefused: the remote document belongs to another owner; the
	// local change is not uploaded.
	outcomeRefused
	// outcomeUploaded: only the local side changed; it went to the remote.
	outcomeUploaded
	// outcomeSame: both sides already hold the same content.
	outcomeSame
	// outcomeDownloaded: only the remote changed (since a landed upload);
	// it comes down.
	outcomeDownloaded
	// outcomeRemoteWon: concurrent edits, the remote one was kept.
	outcomeRemoteWon
	// outcomeConflictUploaded: concurrent edits, the local one was kept
	// and uploaded.
	outcomeConflictUploaded
	// outcomeMerged: concurrent edits merged (FieldMerge, Custom), or a
	// merge committed earlier reaches the local side.
	outcomeMerged
)

// String is the name the debug log has always used for the outcome.
func (o syncOutcome) String() string {
	switch o {
	case outcomeRefused:
		return "refused"
	case outcomeUploaded:
		return "uploaded"
	case outcomeSame:
		return "same"
	case outcomeDownloaded:
		return "downloaded"
	case outcomeRemoteWon:
		return "remote-won"
	case outcomeConflictUploaded:
		return "conflict-uploaded"
	case outcomeMerged:
		return "merged"
	}
	return ""
}
