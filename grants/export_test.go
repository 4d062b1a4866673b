package grants

// SetMaxViews lowers the bound on the views q keeps, so that tests reach it
// with a few logins.
func (q *QR) SetMaxViews(n int) {
	q.mu.Lock()
	q.maxViews = n
	q.mu.Unlock()
}
