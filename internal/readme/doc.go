// Package readme holds the test that keeps the README's Go quick start
// compiling against the current API: snippets in prose rot silently when an
// API changes, and the quick start is the first code a user copies.
package readme
