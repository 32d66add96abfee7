//go:build race

package progress

// raceEnabled: the race detector changes heap accounting.
const raceEnabled = true
