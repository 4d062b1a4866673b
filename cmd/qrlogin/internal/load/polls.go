package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Polls measures the token endpoint answering polls of pending logins,
// the load an RP's waiting PCs put on the server between start and scan.
//
// It first creates cfg.Pending logins (set-up, not measured), then
// Concurrency workers poll them round-robin with wait=0 for cfg.Duration.
// With cfg.Pace each login is polled no sooner than the interval after
// the answer to its previous poll, as RFC 8628 §3.5 asks of clients: the
// rate is then at most Pending per interval, and every answer should be
// authorization_pending. Without it the workers poll as fast as they can
// and the server answers most polls slow_down, raising that login's
// interval by 5 s each time.
//
// Every answer the server computed in full counts as a served poll:
// authorization_pending, slow_down (the same work plus recording the new
// interval) and expired_token (the login outlived the server's --qr-ttl;
// the worker replaces it). Result.Answers says how many of each.
func Polls(ctx context.Context, cfg Config) (*Result, error) {
	d, err := newDriver(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Pending < 1 {
		return nil, errors.New("pending must be at least 1")
	}
	setupStart := time.Now()
	slots := make([]pendingLogin, cfg.Pending)
	interval, err := d.createPending(ctx, slots)
	if err != nil {
		return nil, err
	}
	setup := time.Since(setupStart)
	d.interval = interval

	run, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var next atomic.Uint64
	res, err := runWorkers(run, cfg, []string{StepPoll}, func(run context.Context, rec *recorder) {
		c := newConn(d.t)
		defer c.close()
		for run.Err() == nil {
			slot := &slots[next.Add(1)%uint64(len(slots))]
			if err := d.poll(run, rec, c, slot); err != nil {
				rec.fail(run, err)
				_ = sleep(run, 10*time.Millisecond)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	res.Interval, res.Pending, res.Setup = interval, cfg.Pending, setup
	return res, nil
}

// createPending fills slots with the poll bodies of new logins, Concurrency
// at a time, and returns the server's poll interval.
func (d *driver) createPending(ctx context.Context, slots []pendingLogin) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var interval atomic.Int64
	var wg sync.WaitGroup
	for range min(d.cfg.Concurrency, len(slots)) {
		wg.Go(func() {
			c := newConn(d.t)
			defer c.close()
			for i := next.Add(1) - 1; i < int64(len(slots)) && ctx.Err() == nil; i = next.Add(1) - 1 {
				st, err := d.start(ctx, c)
				if err != nil {
					cancel(fmt.Errorf("creating %d pending logins: %w", len(slots), err))
					return
				}
				body := pollBody(st.DeviceCode, 0)
				slots[i].body.Store(&body)
				interval.Store(int64(st.Interval))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return time.Duration(interval.Load()) * time.Second, nil
}

// pendingLogin is one login polled in turn by the workers.
type pendingLogin struct {
	body atomic.Pointer[[]byte] // the poll request; replaced when the login expires
	due  atomic.Int64           // paced: Unix nanoseconds before which it is not polled
}

// poll polls the login in slot once and records the answer.
func (d *driver) poll(ctx context.Context, rec *recorder, c *conn, slot *pendingLogin) error {
	if d.cfg.Pace {
		if err := sleep(ctx, time.Until(time.Unix(0, slot.due.Load()))); err != nil {
			return err
		}
	}
	body := slot.body.Load()
	t0 := time.Now()
	status, raw, err := c.post(ctx, d.prefix+"/oauth/token", formType, d.clientAuth, *body)
	if err != nil {
		return &requestError{step: StepPoll, err: err}
	}
	answered := time.Now()
	var e oauthError
	_ = decode(raw, &e)
	if status != http.StatusBadRequest {
		return &requestError{step: StepPoll, status: status, code: e.Error}
	}
	// RFC 8628 §3.5: the interval runs between polls; the server measures
	// it from the previous poll's arrival, which came before its answer.
	interval := d.interval
	switch e.Error {
	case "authorization_pending":
	case "slow_down":
		interval = time.Duration(e.Interval) * time.Second
	case "expired_token":
		// The login outlived the server's QR TTL: put a fresh one in its
		// place. Of workers racing on one slot, one replacement wins.
		st, err := d.start(ctx, c)
		if err != nil {
			return err
		}
		fresh := pollBody(st.DeviceCode, 0)
		slot.body.CompareAndSwap(body, &fresh)
		interval = 0
	default:
		return &requestError{step: StepPoll, status: status, code: e.Error}
	}
	slot.due.Store(answered.Add(interval).UnixNano())
	rec.add(StepPoll, answered.Sub(t0))
	rec.answers[e.Error]++
	rec.done++
	return nil
}
