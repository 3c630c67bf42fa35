package telemetry

import "golang.org/x/sys/unix"

// filesystem returns the bytes free to unprivileged users (the agent) and
// the size of the file system that holds dir.
func filesystem(dir string) (avail, size uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	unit := uint64(st.Frsize) // the unit of the block counts
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return st.Bavail * unit, st.Blocks * unit, true
}
