package sync

// Each direction handles its changes in batches (listen.ListenBatch), one
// batch at a time: a change that fails (an owner Func error, the remote
// down) makes its whole direction wait on it, as docs/sync.md promises for
// the owner filter's fail-closed rule. (Several workers, measured on the
// 2-core development machine, lowered the median upload lag but not its
// p99, and cost the same CPU per change.)
//
// Config.ChangeLinger lets a batch gather changes before it goes; a batch
// holds at most streamBatchMax changes.
const streamBatchMax = 100
