package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel kill cmd when the test binary dies, however
// it dies (a timeout panic, kill -9, an interrupted CI run): an orphaned
// `shopstream process` would otherwise stay in the consumer group and stall
// the next run's group reset.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
