package relay

import "errors"

var (
	// ErrInvalidConfig wraps every configuration error; the message names
	// the option.
	ErrInvalidConfig = errors.New("relay: invalid config")
	// ErrPartitionsMismatch means the relay's streams were created with
	// another number of partitions: routing would change, and with it
	// per-document order. Use the stored number, or a new Name.
	ErrPartitionsMismatch = errors.New("relay: partition count differs from the stream's")
	// ErrCorruptEntry reports a stream entry that is not a relay entry
	// (missing or undecodable fields). Consumers dead-letter it.
	ErrCorruptEntry = errors.New("relay: corrupt stream entry")
)
