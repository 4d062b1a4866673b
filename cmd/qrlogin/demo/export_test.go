package demo

import (
	"net/http"
	"time"
)

// PendingQR returns the device_code and current poll interval of the
// pending QR login of the session whose cookie value is given, for tests
// that check the poll secret never reaches the browser and that slow_down
// is obeyed.
func PendingQR(d *Demo, cookie string) (deviceCode string, interval time.Duration, ok bool) {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	sess := d.sessions.get(r)
	if sess == nil {
		return "", 0, false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.qr == nil {
		return "", 0, false
	}
	return sess.qr.deviceCode, sess.qr.interval, true
}
