package store

import (
	"testing"
	"time"
)

// fakeWall is a wall clock that tests set by hand.
type fakeWall struct{ t time.Time }

func (f *fakeWall) Now() time.Time { return f.t }

func TestClockMonotonic(t *testing.T) {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		wall   []time.Time // wall reading before each Now
		floor  time.Time
		resume Stamp
		want   []Stamp
	}{
		{
			name: "wall advances",
			wall: []time.Time{base, base.Add(time.Millisecond)},
			want: []Stamp{MakeStamp(ms(base), 0), MakeStamp(ms(base)+1, 0)},
		},
		{
			name: "frozen wall counts",
			wall: []time.Time{base, base, base},
			want: []Stamp{MakeStamp(ms(base), 0), MakeStamp(ms(base), 1), MakeStamp(ms(base), 2)},
		},
		{
			name: "wall steps back",
			wall: []time.Time{base, base.Add(-time.Hour)},
			want: []Stamp{MakeStamp(ms(base), 0), MakeStamp(ms(base), 1)},
		},
		{
			name:  "floor beats 1970",
			wall:  []time.Time{time.Unix(0, 0)},
			floor: base,
			want:  []Stamp{MakeStamp(ms(base), 1)},
		},
		{
			name:   "resume beats wall",
			wall:   []time.Time{base},
			resume: MakeStamp(ms(base)+10, 5),
			want:   []Stamp{MakeStamp(ms(base)+10, 6)},
		},
		{
			name:   "counter overflow borrows the next millisecond",
			wall:   []time.Time{base},
			resume: MakeStamp(ms(base), 0xffff),
			want:   []Stamp{MakeStamp(ms(base)+1, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWall{}
			c := NewClock(w.Now, tt.floor, tt.resume)
			for i, wt := range tt.wall {
				w.t = wt
				if got := c.Now(); got != tt.want[i] {
					t.Errorf("reading %d = %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func ms(t time.Time) uint64 { return uint64(t.UnixMilli()) }

func TestClockFrozenMillisecondStaysOrdered(t *testing.T) {
	w := &fakeWall{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	c := NewClock(w.Now, time.Time{}, 0)
	prev := c.Now()
	for i := range 100_000 {
		s := c.Now()
		if s <= prev {
			t.Fatalf("write %d: stamp %v not after %v", i, s, prev)
		}
		prev = s
	}
	if got := prev.Millis() - ms(w.t); got != 1 {
		t.Fatalf("100,000 readings borrowed %d ms, want 1", got)
	}
}

func TestClockObserveAndNowAfter(t *testing.T) {
	w := &fakeWall{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	c := NewClock(w.Now, time.Time{}, 0)
	remote := MakeStamp(ms(w.t)+5000, 7)
	c.Observe(remote)
	if got := c.Now(); got <= remote {
		t.Fatalf("Now after Observe = %v, want > %v", got, remote)
	}
	far := MakeStamp(ms(w.t)+9000, 0)
	if got := c.NowAfter(far); got != far+1 {
		t.Fatalf("NowAfter = %v, want %v", got, far+1)
	}
	if c.Peek() != far+1 {
		t.Fatalf("Peek = %v, want %v", c.Peek(), far+1)
	}
	c.Observe(MakeStamp(1, 0)) // an old stamp never moves the clock back
	if c.Peek() != far+1 {
		t.Fatalf("Peek after old Observe = %v", c.Peek())
	}
}

func TestStampString(t *testing.T) {
	s := MakeStamp(uint64(time.Date(2026, 3, 1, 12, 0, 0, 5e6, time.UTC).UnixMilli()), 3)
	if got, want := s.String(), "2026-03-01T12:00:00.005Z+3"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}

func TestClockWallOffsetAndWall(t *testing.T) {
	w := &fakeWall{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	c := NewClock(w.Now, time.Time{}, 0)
	if got, want := c.Wall(), MakeStamp(ms(w.t), 0); got != want {
		t.Fatalf("Wall = %v, want %v", got, want)
	}
	if c.Peek() != 0 {
		t.Fatal("Wall advanced the clock")
	}
	c.SetWallOffset(time.Hour) // a node that booted an hour behind its peers
	if got, want := c.Now(), MakeStamp(ms(w.t.Add(time.Hour)), 0); got != want {
		t.Fatalf("Now with offset = %v, want %v", got, want)
	}
	c.SetWallOffset(-2 * time.Hour) // never backwards, even when the offset drops
	if got := c.Now(); got != MakeStamp(ms(w.t.Add(time.Hour)), 1) {
		t.Fatalf("Now after a negative offset = %v", got)
	}
	// Wall reads the shifted wall clock, whatever the clock has issued or
	// observed.
	c.Observe(MakeStamp(ms(w.t.Add(10*time.Hour)), 0))
	if got, want := c.Wall(), MakeStamp(ms(w.t.Add(-2*time.Hour)), 0); got != want {
		t.Fatalf("Wall after Observe = %v, want %v", got, want)
	}
}
