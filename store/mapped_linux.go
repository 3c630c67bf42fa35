package store

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropMappedMin is the smallest value whose pages a page read drops from
// the process's resident set.
const dropMappedMin = 16 << 10

var pageSize = os.Getpagesize()

// dropMapped tells the kernel that the process no longer needs the memory
// pages that hold b, a slice of bbolt's read-only shared map of the data
// file, so that they leave the process's resident set. Nothing is lost:
// the kernel's page cache keeps the file's pages, and a later read maps
// them again (the pages at b's ends may hold other records: they too are
// only mapped again when read). Call it only inside the read transaction
// b comes from: the map cannot move then.
func dropMapped(b []byte) {
	if len(b) < dropMappedMin {
		return
	}
	// The map starts on a page boundary and spans whole pages, so the
	// pages around b lie inside it.
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % uintptr(pageSize))
	n := (off + len(b) + pageSize - 1) &^ (pageSize - 1)
	pages := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), -off)), n)
	_ = unix.Madvise(pages, unix.MADV_DONTNEED) // advice: a failure only leaves the pages mapped
}
