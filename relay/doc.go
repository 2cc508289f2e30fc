// Package relay fans a collection's change events out to many processes
// through Redis Streams.
//
// A Publisher tails one collection (a listen listener) and appends every
// change event to P partition streams, choosing the partition by a hash of
// the document key, so one document's events stay in order in one stream.
// Consumers read them in consumer groups with Consume: each entry is handled
// by one consumer of a group, acknowledged (XACK) only after the handler
// succeeded, claimed by another consumer when its consumer died with it
// pending (XAUTOCLAIM), and moved to a dead-letter stream after
// MaxDeliveries failed attempts.
//
// # Exactly once into the stream
//
// An entry's ID is derived from the event's position, not assigned by
// Redis: the cluster time (T<<32 | I, as the millisecond part) and the
// event's index among the events sharing that cluster time (a transaction's
// operations; the sequence part). Redis refuses an XADD whose ID is not above
// the stream's last one, so an event published twice (a publisher that
// crashed before it recorded its progress, a second publisher racing the
// first during a failover) is refused instead of duplicated, and the stream
// holds each event at most once. Progress is read back from the streams
// themselves: a starting publisher resumes after the newest entry of all its
// partitions (each entry carries its resume token), so no event between the
// last append and a crash is skipped either. A meta key keeps the last
// position too, for when trimming has emptied every partition.
//
// # What a consumer sees
//
// Handlers get listen.ChangeEvent[T] values, with the listen handler
// signature, so a handler written for a direct listener runs unchanged
// behind a relay. Delivery is at least once: a handler whose consumer dies
// before XACK runs again elsewhere. Per-document order holds within a
// partition as long as one consumer handles a partition at a time (ordered
// mode); with several consumers sharing a partition, a redelivered entry can
// overtake a later one of the same document.
//
// See docs/scale-out.md for topologies and the failure table.
package relay
