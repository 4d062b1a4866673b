package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentForKeepsTheFloor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                  string
		live, stacks, globals uint64
		want                  int
	}{
		{"a small heap grows by the floor before the next cycle", 6 * mib, 1 * mib, 1 * mib, 800},
		{"a heap as large as the floor keeps GOGC=100", 60 * mib, 3 * mib, 1 * mib, 100},
		{"a large heap (held long-polls' stacks) keeps GOGC=100", 80 * mib, 200 * mib, 1 * mib, 100},
		{"nothing measured yet keeps GOGC=100", 0, 0, 0, 100},
		{"before the first cycle (no live heap yet) GOGC=100", 0, 1 * mib, 1 * mib, 100},
		{"a tiny heap: at most 1600, the runtime's 4 MiB minimum × 16 = the floor", 1 * mib, 1 * mib, 0, 1600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := gcPercentFor(64*mib, tc.live, tc.stacks, tc.globals, 100)
			if p != tc.want {
				t.Fatalf("GOGC %d, want %d", p, tc.want)
			}
			// Go's heap goal: live + (live + stacks + globals) × GOGC/100,
			// at least 4 MiB × GOGC/100; raised, it reaches the floor.
			goal := max(tc.live+(tc.live+tc.stacks+tc.globals)*uint64(p)/100, 4*mib*uint64(p)/100)
			if p != 100 && goal < 64*mib {
				t.Fatalf("goal %d MiB, below the floor", goal/mib)
			}
		})
	}
}

// gcPercent reads GOGC as the runtime has it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestTuneGCRaisesGOGCForASmallHeapAndPutsItBack(t *testing.T) {
	if p := gcPercent(); p != 100 {
		t.Skipf("GOGC is %d in this process: the tuner is for the default", p)
	}
	runtime.GC() // a live heap measured: the tuner's first setting needs one
	stop := tuneGC(64, "")
	t.Cleanup(stop)
	// This test binary's live heap is a few MiB: the floor is many times it.
	if p := gcPercent(); p <= 100 {
		stop()
		t.Fatalf("GOGC %d with the floor on, want more than 100", p)
	}
	// One tuner per process: a second serve in the process leaves it be.
	tuneGC(64, "")()
	if p := gcPercent(); p <= 100 {
		stop()
		t.Fatalf("GOGC %d after a second tuner stopped, want the first's", p)
	}
	// After a cycle the finalizer sets it again, and re-arms.
	for range 3 {
		debug.SetGCPercent(100)
		runtime.GC()
		waitFor(t, func() bool { return gcPercent() > 100 })
	}
	stop()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after stop, want 100", p)
	}
	runtime.GC()
	runtime.GC()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after stop and two cycles, want 100: the tuner still runs", p)
	}
}

// waitFor waits for cond, which a finalizer makes true after a GC cycle
// (finalizers run on their own goroutine).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the GC tuner did not run after a cycle")
}

func TestTuneGCLeavesGOGCFromTheEnvironmentOrAZeroFloor(t *testing.T) {
	if p := gcPercent(); p != 100 {
		t.Skipf("GOGC is %d in this process", p)
	}
	for _, tc := range []struct {
		floor int
		gogc  string
	}{{64, "100"}, {64, "off"}, {0, ""}} {
		stop := tuneGC(tc.floor, tc.gogc)
		if p := gcPercent(); p != 100 {
			stop()
			t.Fatalf("floor %d, GOGC=%q: GOGC set to %d", tc.floor, tc.gogc, p)
		}
		stop()
	}
}

// serve runs with the heap floor by default, and not when GOGC is set in
// its environment; it puts GOGC back when it stops.
func TestServeTunesTheGCUnlessGOGCIsSet(t *testing.T) {
	if p := gcPercent(); p != 100 {
		t.Skipf("GOGC is %d in this process", p)
	}
	runtime.GC()
	_, _, stop := startServeWith(t, func(string) string { return "" }, &syncBuffer{})
	if p := gcPercent(); p <= 100 {
		stop()
		t.Fatalf("GOGC %d while serving, want the floor's (more than 100)", p)
	}
	stop()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after serve stopped, want 100", p)
	}
	env := func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	}
	_, _, stop = startServeWith(t, env, &syncBuffer{})
	defer stop()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d while serving with GOGC=100 in the environment, want 100", p)
	}
}
