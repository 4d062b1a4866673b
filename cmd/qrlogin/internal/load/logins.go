package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Logins drives complete QR logins for cfg.Duration or until ctx ends:
// Concurrency PCs, each in a loop, and one phone user approving them all.
// A login is the flow of the README's walk-through:
//
//  1. the PC starts it (POST /qr/authorize) and long-polls the token
//     endpoint with wait (SPEC §2.2);
//  2. the phone scans (POST /qr/scan); the long-poll answers
//     authorization_pending with qr_status scanned;
//  3. the PC long-polls again, the phone confirms (POST /qr/confirm), and
//     the long-poll answers 200 with the tokens.
//
// confirm-to-tokens runs from sending the confirm to receiving the tokens:
// what a user waits for after tapping Confirm.
//
// The phone scans cfg.ScanDelay after the PC's first long-poll left, and
// confirms cfg.ThinkTime after the PC learnt of the scan.
//
// The phone signs in once before the clock starts. A setup failure is
// returned as an error; failures under load are counted in the Result.
func Logins(ctx context.Context, cfg Config) (*Result, error) {
	d, err := newDriver(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Wait < time.Second || cfg.Wait > 30*time.Second {
		// A poll without wait would be answered slow_down (RFC 8628 §3.5):
		// the PC must be held by the server, not pace itself.
		return nil, errors.New("wait must be 1 to 30 seconds")
	}
	tok, err := signInPhone(ctx, d.base, d.hc.Transport, cfg.PhoneClientID, cfg.PhoneRedirectURI, cfg.Username, cfg.Password)
	if err != nil {
		return nil, err
	}
	if tok.expiresIn > 0 && tok.expiresIn < cfg.Duration+cfg.Wait {
		return nil, fmt.Errorf("the phone's access token expires in %s, before the run ends: bench for less, or raise the server's --access-token-ttl", tok.expiresIn)
	}
	d.phoneAuth = "Bearer " + tok.accessToken
	if cfg.VerifyEvery > 0 {
		if d.idTokens, err = newIDTokenChecker(ctx, d.base, cfg.ClientID, d.hc); err != nil {
			return nil, err
		}
	}

	run, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	return runWorkers(run, cfg, loginSteps, func(run context.Context, rec *recorder) {
		// Each PC and the phone that approves its logins have their own
		// connection, kept alive from login to login.
		pc, phone := newConn(d.t), newConn(d.t)
		defer pc.close()
		defer phone.close()
		for run.Err() == nil {
			if err := d.login(run, rec, pc, phone); err != nil {
				rec.fail(run, err)
				// A refusing server answers at once: pace the retries so an
				// error storm does not become the measurement.
				_ = sleep(run, 10*time.Millisecond)
			}
		}
	})
}

// login runs one complete login and records its steps. It records the
// login as done only when the tokens arrived.
func (d *driver) login(ctx context.Context, rec *recorder, pcConn, phone *conn) error {
	t0 := time.Now()
	st, err := d.start(ctx, pcConn)
	if err != nil {
		return err
	}
	rec.add(StepStart, time.Since(t0))

	pc := d.pcPolls(ctx, pcConn, pollBody(st.DeviceCode, d.cfg.Wait))
	defer pc.stop()
	// The QR is on screen for a while before the phone scans it. A scan
	// that overtakes the PC's first long-poll makes the server hold that
	// poll for the full wait: the login was already scanned when it
	// arrived, so it waits for the next change (SPEC §2.2), the confirm.
	if err := sleep(ctx, d.cfg.ScanDelay); err != nil {
		return err
	}
	t1 := time.Now()
	raw, err := d.call(ctx, phone, StepScan, "/qr/scan", jsonType, d.phoneAuth, jsonObject("qr", st.QR))
	if err != nil {
		return err
	}
	rec.add(StepScan, time.Since(t1))
	var sc struct {
		Ticket string `json:"ticket"`
	}
	if err := decode(raw, &sc); err != nil || sc.Ticket == "" {
		return &requestError{step: StepScan, status: 200, code: "no ticket", err: err}
	}
	a, _, err := pc.next(StepScanToScanned, "pending")
	if err != nil {
		return err
	}
	if a.status == http.StatusOK {
		return &requestError{step: StepScanToScanned, status: a.status, code: "tokens before the confirm"}
	}
	rec.add(StepScanToScanned, a.at.Sub(t1))
	if a.at.Sub(a.sent) >= d.cfg.Wait {
		rec.late++
	}

	if err := sleep(ctx, d.cfg.ThinkTime); err != nil {
		return err
	}
	t2 := time.Now()
	if _, err := d.call(ctx, phone, StepConfirm, "/qr/confirm", jsonType, d.phoneAuth, jsonObject("ticket", sc.Ticket)); err != nil {
		return err
	}
	rec.add(StepConfirm, time.Since(t2))
	// The PC may hear "scanned" again before the tokens: the server
	// reports a change to the poll after the one that saw it.
	a, again, err := pc.next(StepConfirmToTokens, "scanned")
	if err != nil {
		return err
	}
	rec.repolls += again
	idToken, err := expectTokens(StepConfirmToTokens, a)
	if err != nil {
		return err
	}
	// A sample of the ID tokens is verified (Config.VerifyEvery); the
	// latencies end when the answer arrived, so the check is not in them.
	n := rec.tokens
	rec.tokens++
	if d.idTokens != nil && n%d.cfg.VerifyEvery == 0 {
		if err := d.idTokens.check(ctx, idToken); err != nil {
			return &requestError{step: StepConfirmToTokens, status: a.status, code: "id_token rejected", err: err}
		}
		rec.verified++
	}
	rec.add(StepConfirmToTokens, a.at.Sub(t2))
	rec.add(StepTotal, a.at.Sub(t0))
	rec.done++
	return nil
}

// pcLoop is the PC's side of a login: it long-polls the token endpoint
// again as soon as an answer says authorization_pending, as a relying
// party does, until tokens or another answer come.
type pcLoop struct {
	cancel  context.CancelFunc
	answers chan pollAnswer
	done    chan struct{}
}

// maxPolls bounds one login's polls: a login takes three or four; more
// means the server answers pending without holding the long-poll.
const maxPolls = 8

// pcPolls sends the PC's first poll on c and starts its poll loop, which
// uses c until stop. It returns once that poll is on the wire, so that
// what the caller sends next reaches the server after it in all
// likelihood. The caller writes the first poll itself: waiting for the
// loop's goroutine to say it had would cost a wake-up per login.
func (d *driver) pcPolls(ctx context.Context, c *conn, body []byte) *pcLoop {
	ctx, cancel := context.WithCancel(ctx)
	pc := &pcLoop{cancel: cancel, answers: make(chan pollAnswer, maxPolls), done: make(chan struct{})}
	t := time.Now()
	sendErr := c.send(ctx, d.prefix+"/oauth/token", formType, d.clientAuth, body)
	go func() {
		defer close(pc.done)
		defer close(pc.answers)
		for i := range maxPolls {
			var status int
			var raw []byte
			err := sendErr
			switch {
			case i == 0 && err == nil:
				status, raw, err = c.receive(ctx)
			case i > 0:
				t = time.Now()
				status, raw, err = c.post(ctx, d.prefix+"/oauth/token", formType, d.clientAuth, body)
			}
			a := pollAnswer{sent: t, at: time.Now(), status: status, err: err}
			switch {
			case err != nil:
			case status == http.StatusOK:
				a.body = bytes.Clone(raw) // raw is c's, reused by its next request
			default:
				_ = decode(raw, &a.e) // a body that is not JSON leaves the code empty
			}
			pc.answers <- a
			if err != nil || status != http.StatusBadRequest || a.e.Error != "authorization_pending" {
				return
			}
		}
	}()
	return pc
}

// next returns the PC's next answer that is not authorization_pending with
// qr_status skip: the PC acts on every answer, the bench on the changes.
// It also returns how many it skipped.
func (pc *pcLoop) next(step, skip string) (pollAnswer, int, error) {
	for skipped := 0; ; skipped++ {
		a, ok := <-pc.answers
		if !ok {
			return pollAnswer{}, skipped, &requestError{step: step, status: http.StatusBadRequest, code: "authorization_pending every time"}
		}
		if a.err != nil {
			return a, skipped, &requestError{step: step, err: a.err}
		}
		qs := ""
		if a.status == http.StatusBadRequest && a.e.Error == "authorization_pending" {
			qs = a.e.QRStatus
		}
		switch {
		case qs == skip:
			continue
		case qs == "scanned" || a.status == http.StatusOK:
			return a, skipped, nil
		}
		return a, skipped, &requestError{step: step, status: a.status, code: a.e.Error}
	}
}

// stop ends the loop and waits for it.
func (pc *pcLoop) stop() {
	pc.cancel()
	<-pc.done
}
