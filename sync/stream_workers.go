package sync

// streamWorkers is how many changes of different documents each direction
// handles at once. Handling one change takes several round trips to each
// side (reads of both sides and of the metadata, a remote transaction), so
// one at a time a direction cannot keep up with 1,000 writes/s even on an
// idle machine; a few workers overlap those waits. Changes of one document
// stay in order on one worker, and the checkpoint only moves past a change
// once every change before it was handled.
const streamWorkers = 4
