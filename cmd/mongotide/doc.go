// Command mongotide is the CLI of the mongotide toolkit:
//
//	mongotide demo       typed listeners printing the events of scripted writes
//	mongotide embedded   start an embedded MongoDB-compatible replica set, print its URI
//	mongotide listen     tail a collection's changes as JSON lines, resumable (--resume-file)
//	mongotide bench      measure the embedded server and the listener engine, one table
//	mongotide serve      the HTTP gateway: pull changes, snapshot, documents (docs/gateway.md)
//
// plus the sync subcommands. Commands that take --uri run on a fresh embedded
// server when it is omitted and print its URI on stderr. Results go to stdout,
// errors and progress to stderr. Exit codes: 0 success (including Ctrl-C of a
// long-running command), 1 the command failed, 2 the command line was wrong.
//
// The commands are functions of (ctx, args, stdout, stderr) through run, so
// tests drive them exactly as a user would, against the real driver.
package main
