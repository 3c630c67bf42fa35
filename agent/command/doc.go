// Package command runs the programs the agent starts on a user's behalf:
// exec watch handlers (package watch) and, later, the check and reload
// commands of render blocks. One call, Run, runs one command to its end
// and reports what happened in a Result; it never leaves anything
// running behind it.
//
// A Command is an argument list, executed directly, with no shell
// between: the words reach the program as written. A shell runs only
// when the user asks for one, with Command.Shell, which /bin/sh -c
// interprets.
//
// Each command runs in a process group of its own (on Unix). When its
// Timeout passes, or the context Run was given ends (the agent stops),
// the whole group is killed with SIGKILL, so a handler's children do not
// outlive it; Run then waits at most WaitDelay for pipes that a process
// outside the group still holds.
//
// The command inherits the agent's environment without NOTIFY_SOCKET,
// so that a program that speaks systemd's notification protocol does not
// report for the agent, plus Command.Env. Its stdin is Command.Stdin; its
// stdout and stderr go, interleaved, into a buffer that keeps their last
// MaxOutput bytes (as Consul keeps a watch handler's last 4 KiB) and
// counts them all, so a chatty program cannot grow the agent's memory.
package command
