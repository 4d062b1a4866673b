package idp

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestLimitKeyGroupsIPv6By64(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"::ffff:192.0.2.7":          "::ffff:192.0.2.7",
		"2001:db8:1:2:aaaa::1":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::9": "2001:db8:1:2::/64",
		"not-an-ip":                 "not-an-ip",
	} {
		if got := limitKey(in); got != want {
			t.Errorf("limitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// A flood of fresh keys evicts idle buckets, not the ones limiting, and
// memory stays bounded.
func TestLimiterEvictsIdleBucketsFirst(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(1, 2, func() time.Time { return now })
	l.allow("hot")
	l.allow("hot")
	for i := range maxLimiterKeys - 1 {
		l.m[fmt.Sprint("idle-", i)] = rate.NewLimiter(l.rps, l.burst) // full: idle
	}
	l.allow("newcomer") // at the bound: evicts
	if len(l.m) > 2 {
		t.Fatalf("%d buckets kept after eviction, want the hot one and the newcomer", len(l.m))
	}
	if ok, _ := l.allow("hot"); ok {
		t.Fatal("eviction reset the bucket that was limiting")
	}
	for i := range maxLimiterKeys + 10 { // busy buckets only: start over, bounded
		l.allow(fmt.Sprint("flood-", i))
	}
	if n := len(l.m); n > maxLimiterKeys {
		t.Fatalf("%d keys kept, bound is %d", n, maxLimiterKeys)
	}
}
