//go:build race

package engine

// raceDetector is set when the tests run with -race (make test does): the
// fault sweep then covers each injection point with one of its fault modes
// instead of all of them, to stay well under a minute.
const raceDetector = true
