package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The garbage collector's heap floor. With Go's default GOGC=100 the GC
// runs whenever the heap has grown by the live heap (plus stacks and
// globals) since the last cycle. A provider's live heap is small (about
// 6–8 MiB under a login load) and every login allocates about 130 KiB, so
// at 1,000 logins/s the GC ran some 20 times a second: its mark workers
// and assists were 8 % of the server's CPU in a login run (ES256,
// PostgreSQL, 32 PCs, 10 s of pprof), a fixed cost per cycle paid again
// and again for a heap that barely changes.
//
// --gc-heap-floor lets the heap grow by at least that much between cycles:
// after every cycle GOGC is set so that the next goal is at least
// live + floor (and never below GOGC=100's). A small heap is collected several times less often;
// a large one (10,000 held long-polls, hundreds of MiB of stacks) is
// collected exactly as with GOGC=100, so the floor costs at most its own
// size in memory (measured: RSS 44 → 111 MiB in a login run, GC cycles
// per 1,000 logins 20 → 2.5). A GOMEMLIMIT still caps the goal (the runtime applies
// it over GOGC). Setting GOGC in the environment, or --gc-heap-floor 0,
// leaves the collector to the runtime alone.
const defaultGCHeapFloorMiB = 64

// gcPercentFor is the GOGC that makes the next heap goal at least
// live + floor: Go sets the goal at live + (live + stacks + globals) ×
// GOGC/100 (the GC pacer since Go 1.18), never below base. Before the
// first cycle (live 0) it is base. It is at most floor/4 MiB × 100: the
// runtime's own minimum heap is 4 MiB × GOGC/100, which must stay within
// the floor (a tiny heap must not set a goal of gigabytes).
func gcPercentFor(floor, live, stacks, globals uint64, base int) int {
	if live == 0 {
		return base
	}
	p := floor * 100 / (live + stacks + globals)
	p = min(p, floor*100/(4<<20))
	return max(base, int(p))
}

// gcTuner re-sets GOGC after every GC cycle (a finalizer that re-arms
// itself runs once per cycle).
type gcTuner struct {
	floor uint64
	base  int

	mu      sync.Mutex
	stopped bool
	samples []metrics.Sample
}

// gcTuning keeps one tuner per process: serve may run more than once in
// a process (tests), and two tuners would fight.
var gcTuning struct {
	sync.Mutex
	on bool
}

// tuneGC starts the floor of floorMiB MiB unless GOGC is set (gogc, the
// environment's) or floorMiB is 0; stop ends it and puts GOGC back.
func tuneGC(floorMiB int, gogc string) (stop func()) {
	if floorMiB <= 0 || gogc != "" {
		return func() {}
	}
	gcTuning.Lock()
	defer gcTuning.Unlock()
	if gcTuning.on {
		return func() {}
	}
	gcTuning.on = true
	t := &gcTuner{floor: uint64(floorMiB) << 20, base: 100, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	t.adjust()
	t.arm()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.stopped = true
			debug.SetGCPercent(t.base)
			t.mu.Unlock()
			gcTuning.Lock()
			gcTuning.on = false
			gcTuning.Unlock()
		})
	}
}

// gcSentinel is garbage the moment it is made: its finalizer runs after
// the next GC cycle. It holds a pointer so that it is not a tiny
// allocation (a tiny object's finalizer may never run).
type gcSentinel struct{ t *gcTuner }

func (t *gcTuner) arm() {
	runtime.SetFinalizer(&gcSentinel{t}, func(s *gcSentinel) {
		if s.t.adjust() {
			s.t.arm()
		}
	})
}

// adjust sets GOGC for the live heap the last cycle left; false once
// stopped.
func (t *gcTuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	// Set every cycle (a heap lock, no stop-the-world), even if unchanged.
	debug.SetGCPercent(gcPercentFor(t.floor, v[0], v[1], v[2], t.base))
	return true
}
