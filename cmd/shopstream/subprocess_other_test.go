//go:build !linux

package main

import "os/exec"

// dieWithTest: only Linux has a parent-death signal; elsewhere cleanup
// relies on the test's own t.Cleanup.
func dieWithTest(*exec.Cmd) {}
