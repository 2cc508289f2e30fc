// Package unified runs MongoDB's unified test format (the JSON files of the
// mongodb/specifications repository, source/unified-test-format) with the real
// go.mongodb.org/mongo-driver/v2 driver against any deployment, so that the
// embedded server's fidelity is measured by MongoDB's own tests rather than by
// ours.
//
//	r, err := unified.New(ctx, unified.Config{URI: uri})
//	f, err := unified.LoadFile(path, "crud/find.json")
//	for i := range f.Tests() {
//		res := r.RunTest(ctx, f, i) // Passed, Failed or Skipped, with a one-line reason
//	}
//
// The runner is deliberately smaller than the driver's own: it implements what
// the CRUD and change-stream files use, generically, and turns everything else
// into a skip that names the missing feature. Nothing it does not understand is
// ignored: an unknown test field, entity option, operation, argument, special
// operator or expected-event type skips the test with its name, so a skip can
// never hide as a pass.
//
// # Supported
//
// Schema versions 1.x (SupportedSchemaVersion is the newest minor whose
// features are implemented; a newer major is skipped with the reason).
//
// runOnRequirements: minServerVersion, maxServerVersion (buildInfo), topologies
// (from hello: single, replicaset, sharded, load-balanced), serverless
// (Config.Serverless), auth (credentials in the URI), serverParameters
// (getParameter), csfle (never available).
//
// Entities: client (uriOptions, useMultipleMongoses, observeEvents for the
// three command-monitoring events, ignoreCommandMonitoringEvents,
// observeSensitiveCommands, serverApi), database and collection (readConcern,
// readPreference, writeConcern options), session (causalConsistency,
// snapshot); change streams through saveResultAsEntity.
//
// Operations:
//   - collection: aggregate, bulkWrite, count, countDocuments,
//     estimatedDocumentCount, deleteMany, deleteOne, distinct, drop, find,
//     findOne, findOneAndDelete, findOneAndReplace, findOneAndUpdate,
//     insertMany, insertOne, replaceOne, updateMany, updateOne, rename,
//     createChangeStream
//   - database: aggregate, createCollection (views included), dropCollection,
//     listCollections, runCommand, createChangeStream
//   - client: createChangeStream, listDatabaseNames
//   - change stream: iterateUntilDocumentOrError, iterateOnce, close
//   - session: endSession
//   - testRunner: failPoint (disabled again at the end of the test through the
//     same client), assertCollectionExists, assertCollectionNotExists
//
// Results: expectResult with the "Evaluating Matches" rules (extra fields only
// in root-level documents, same-length arrays, flexible numerics, $$exists,
// $$type, $$unsetOrMatches, $$matchesEntity, $$matchesHexBytes, $$sessionLsid,
// $$lte, $$matchAsDocument, $$matchAsRoot); expectError (isError,
// isClientError, errorContains, errorCode, errorCodeName, errorLabelsContain,
// errorLabelsOmit, expectResult); saveResultAsEntity; ignoreResultAndError;
// expectEvents for command events (command, reply, commandName, databaseName,
// hasServiceId, hasServerConnectionId, ignoreExtraEvents); outcome (exact,
// sorted by _id, key order ignored). After each test the runner disables its
// fail points, closes change streams, ends sessions, disconnects clients and,
// when the test failed, runs killAllSessions.
//
// # Skip list
//
// A test is skipped, with the reason printed, only when:
//   - its file's or its own runOnRequirements are not met (e.g. a server
//     version range, a sharded or load-balanced topology, serverless);
//   - it has a skipReason;
//   - its file has a newer major schemaVersion than this runner supports;
//   - it uses a maxTimeMS argument: driver v2 removed the per-operation
//     option (it derives maxTimeMS from context deadlines minus the round
//     trip), so the exact value the test expects in the command cannot be sent;
//   - it is one of the driver deviations listed in driverDeviation
//     (runner.go): a test the v2 driver itself fails against any server and
//     that the driver's own runner skips; today only crud/find.json "Find
//     with batchSize equal to limit" (GODRIVER-3395);
//   - it uses anything outside the supported list above ("unsupported
//     operation X", "unsupported argument X for operation Y", "unsupported
//     observeEvents type X", ...), e.g. transactions, GridFS, CMAP/SDAM events,
//     log messages, client-side encryption, threads.
//
// The deprecated count operation has no helper in driver v2; the runner sends
// the count command the CRUD spec defines for it ({count, query, skip, limit,
// hint, comment}) through RunCommand instead of skipping.
package unified
