//go:build !unix

package command

import "os/exec"

// ownProcessGroup leaves cmd as it is: its cancellation kills the
// command only.
func ownProcessGroup(*exec.Cmd) {}
