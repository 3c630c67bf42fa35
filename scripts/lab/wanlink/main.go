// Command wanlink joins two TAP devices with a fixed one-way delay: the
// WAN link between the labs' sites on kernels built without netem. Each
// frame read from one device is written to the other once the delay has
// passed; a frame that finds the queue of its direction full (4,096
// frames) is dropped and counted, as a router's queue would. A device
// that is down refuses writes: the frame is lost, which is how a lab
// cuts the link (ip link set DEV down). It runs until SIGINT or SIGTERM
// and then prints what it carried.
//
//	wanlink -a wanA -b wanB -delay 15ms
//
// Both devices must exist as persistent TAPs (ip tuntap add mode tap
// name DEV) in the network namespace it runs in.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	queueLen = 4096
	frameMax = 65536 // a TAP frame never exceeds the device's MTU plus headers
)

func main() {
	a := flag.String("a", "", "first TAP device")
	b := flag.String("b", "", "second TAP device")
	delay := flag.Duration("delay", 15*time.Millisecond, "one-way delay added to every frame, both directions")
	flag.Parse()
	if *a == "" || *b == "" || *delay < 0 {
		fmt.Fprintln(os.Stderr, "wanlink: -a and -b name two TAP devices; -delay is not negative")
		os.Exit(2)
	}
	if err := run(*a, *b, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "wanlink:", err)
		os.Exit(1)
	}
}

// counts of one direction.
type counts struct{ carried, dropped, lost atomic.Uint64 }

func run(nameA, nameB string, delay time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	devA, err := openTAP(nameA)
	if err != nil {
		return err
	}
	devB, err := openTAP(nameB)
	if err != nil {
		devA.Close()
		return err
	}
	var ab, ba counts
	var wg sync.WaitGroup
	wg.Go(func() { forward(ctx, devA, devB, delay, &ab) })
	wg.Go(func() { forward(ctx, devB, devA, delay, &ba) })
	<-ctx.Done()
	devA.Close() // ends the blocked reads
	devB.Close()
	wg.Wait()
	fmt.Printf("wanlink: %s→%s carried %d, dropped %d (queue full), lost %d (device down); %s→%s carried %d, dropped %d, lost %d\n",
		nameA, nameB, ab.carried.Load(), ab.dropped.Load(), ab.lost.Load(),
		nameB, nameA, ba.carried.Load(), ba.dropped.Load(), ba.lost.Load())
	return nil
}

// openTAP attaches to the persistent TAP device name, without the
// packet-information header, non-blocking so that Close ends a Read.
func openTAP(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("device %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach to TAP %q: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

type frame struct {
	due  time.Time
	data []byte
}

// forward carries frames from src to dst, each delay after it was read.
// One goroutine reads, one writes: a frame's delay never waits on the
// frames before it, since all share the same delay.
func forward(ctx context.Context, src, dst *os.File, delay time.Duration, c *counts) {
	q := make(chan frame, queueLen)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTimer(0)
		defer t.Stop()
		for f := range q {
			if d := time.Until(f.due); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
			if _, err := dst.Write(f.data); err != nil {
				c.lost.Add(1) // the device is down: the link is cut
				continue
			}
			c.carried.Add(1)
		}
	})
	defer wg.Wait()
	defer close(q)
	buf := make([]byte, frameMax)
	for ctx.Err() == nil {
		n, err := src.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) || ctx.Err() != nil {
				return
			}
			// EIO while the device is down: wait for it without spinning.
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		select {
		case q <- frame{due: time.Now().Add(delay), data: append([]byte(nil), buf[:n]...)}:
		default:
			c.dropped.Add(1)
		}
	}
}
