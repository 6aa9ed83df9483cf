//go:build race

package web

// raceEnabled: the race detector slows sockplay's own code five to ten
// times; a test whose figures are about speed under a flood skips itself.
const raceEnabled = true
