package load

import (
	"context"
	"time"
)

// Starts measures device authorizations: Concurrency workers each start
// QR logins at /qr/authorize (SPEC §2.1, RFC 8628 §3.1) back to back for
// cfg.Duration, as many relying parties' PCs showing a new QR would. The
// logins are left pending; they expire with the server's --qr-ttl.
// cfg.QRImage says whether the answers carry the rendered image.
func Starts(ctx context.Context, cfg Config) (*Result, error) {
	d, err := newDriver(cfg)
	if err != nil {
		return nil, err
	}
	run, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	return runWorkers(run, cfg, []string{StepStart}, func(run context.Context, rec *recorder) {
		c := newConn(d.t)
		defer c.close()
		for run.Err() == nil {
			t0 := time.Now()
			if _, err := d.start(run, c); err != nil {
				rec.fail(run, err)
				_ = sleep(run, 10*time.Millisecond)
				continue
			}
			rec.add(StepStart, time.Since(t0))
			rec.done++
		}
	})
}
