package idp

import (
	"net/http"
	"strings"

	"github.com/qrlogin/qrlogin/idp/oauth"
)

// The hosted pages' errors. A person who meets one must learn what
// happened and what to do next, in the site's layout: each error has its
// own title (the page's heading) and next step. The wording lives here,
// once; handlers pick a problem, and the one template (error.html) draws
// it.

// problem is an error page.
type problem struct {
	Title  string // what happened, in a few words: the heading
	Detail string // more about it; optional
	Next   string // what to do now
	// Link and LinkText: a same-site address the next step points to;
	// optional.
	Link, LinkText string
}

// errorPageData is what error.html draws: the problem, and for a server
// failure the request id to quote (the log has the cause under it).
type errorPageData struct {
	problem
	RequestID string
}

// errorPage renders p with status. A 5xx page shows the request's id.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, p problem) {
	d := errorPageData{problem: p}
	if status >= http.StatusInternalServerError && status != http.StatusServiceUnavailable {
		d.RequestID = requestID(r.Context())
	}
	s.render(w, status, "error.html", d)
}

var (
	probNotFound = problem{
		Title:  "Page not found",
		Detail: "There is nothing at this address.",
		Next:   "Check the address. To sign in, go back to the application you came from and start there.",
	}
	probFormOnly = problem{
		Title:  "This page is not opened directly",
		Detail: "It only answers a form sent from this site.",
		Next:   "Go back to the previous page and use its buttons.",
	}
	probRequestUnknown = problem{
		Title:  "This sign-in link is incomplete",
		Detail: "It names no sign-in request this site knows.",
		Next:   "Go back to the application and start signing in again.",
	}
	probRequestExpired = problem{
		Title:  "This sign-in has expired",
		Detail: "The sign-in request is unknown here or more than a few minutes old.",
		Next:   "Go back to the application and start signing in again.",
	}
	probQRUnknown = problem{
		Title:  "This QR code is no longer valid",
		Detail: "It expired, was already used or denied, or was replaced by a new one.",
		Next:   "Get a new code on the other screen and scan that one, or type the code it shows.",
		Link:   "/device", LinkText: "Type a code instead",
	}
	probQRScannedByOther = problem{
		Title:  "Someone else scanned this QR code",
		Detail: "Another account scanned it first, so it cannot be used from here.",
		Next:   "Start over on the other screen and scan its new code. If you did not expect anyone else to scan it, do not finish that sign-in.",
	}
	probQRDecided = problem{
		Title:  "This sign-in was already decided",
		Detail: "It was confirmed or denied a moment ago.",
		Next:   "Look at the other screen: it shows the outcome.",
	}
	probQROtherSession = problem{
		Title:  "Scanned on another device",
		Detail: "This sign-in was scanned by another of your devices or browsers, and only that one can decide it.",
		Next:   "Scan the QR code again here to decide on this device.",
	}
	probChooseDecision = problem{
		Title:  "Nothing was decided",
		Detail: "The form arrived without Confirm or Deny.",
		Next:   "Scan the QR code again and press Confirm or Deny.",
	}
	probWrongNumber = problem{
		Title:  "Wrong number: the sign-in was cancelled",
		Detail: "That was not the number shown on the other screen.",
		Next:   "If you started this sign-in, start again on the other screen and tap the number it shows. If you did not, nothing more to do.",
	}
	probNumberRequired = problem{
		Title:  "Pick the number",
		Detail: "This sign-in asks you to tap the number shown on the other screen.",
		Next:   "Scan the QR code again and tap the number the other screen shows.",
	}
	probChooseNumber = problem{
		Title:  "Nothing was decided",
		Detail: "The form arrived without one of the numbers offered.",
		Next:   "Scan the QR code again and tap the number the other screen shows.",
	}
	probCannotContinue = problem{
		Title:  "This sign-in cannot continue",
		Detail: "It is no longer in a state this page can act on.",
		Next:   "Start over on the other screen.",
	}
	probTooManyAttempts = problem{
		Title: "Too many attempts",
		Next:  "Wait a minute and try again.",
	}
	probTooManyRequests = problem{
		Title:  "Too many sign-in requests",
		Detail: "This network sent more sign-in requests than this site accepts at once.",
		Next:   "Wait a moment and try again.",
	}
	probUnavailable = problem{
		Title:  "Temporarily unavailable",
		Detail: "The service cannot do this right now. Nothing was changed.",
		Next:   "Try again in a moment.",
	}
	probInternal = problem{
		Title:  "Something went wrong on our side",
		Detail: "The error was logged. Nothing you did caused it.",
		Next:   "Try again later. If it keeps happening, give the site's operator the reference below.",
	}
	// probSignInUndone: the password changed (or the account was
	// disabled) while the sign-in was checked; the sign-in request is
	// gone with it (signInStands).
	probSignInUndone = problem{
		Title:  "Wrong username or password",
		Detail: "The password is not the one this account has now, and this sign-in request ended with the attempt.",
		Next:   "Go back to the application and start signing in again.",
	}
	// probProximityRequired: the client's require policy refused a
	// confirmation from another network (proximity.go); the login was
	// denied.
	probProximityRequired = problem{
		Title:  "Not confirmed: this phone is on another network",
		Detail: "This site accepts a confirmation only from a phone on the same network as the screen that asked, so the sign-in was denied.",
		Next:   "If you are in front of that screen, connect this phone to its Wi-Fi, get a new code there and scan it again. If you are not, someone else started this sign-in: nothing more to do.",
	}
	probSignOutChoice = problem{
		Title:  "Nothing was decided",
		Detail: "The form arrived without Sign out or Stay signed in.",
		Next:   "Go back and press Sign out or Stay signed in.",
	}
)

// probFormExpired is a refused form post: a missing or wrong CSRF token.
// next says how to start over from where the person is.
func probFormExpired(next string) problem {
	return problem{
		Title:  "This form has expired",
		Detail: "It was open too long, or it was not sent from this site.",
		Next:   next,
	}
}

// probBadSignIn is an /authorize request refused before any answer could
// go back to the client (RFC 6749 §4.1.2.1): detail says what was wrong.
func probBadSignIn(detail string) problem {
	return problem{
		Title:  "The application's sign-in request is invalid",
		Detail: whatWasWrong(detail),
		Next:   "Nothing was sent back to the application. Go back to it and try again; if it keeps happening, tell its operator.",
	}
}

// probBadSignOut is an end_session request refused: nobody was signed
// out.
func probBadSignOut(detail string) problem {
	return problem{
		Title:  "The application's sign-out request is invalid",
		Detail: whatWasWrong(detail),
		Next:   "You were not signed out. Go back to the application and sign out there again, or close this page.",
	}
}

// probRefused is a request the edge refused (edge.go): its description
// says which parameter and why.
func probRefused(detail string) problem {
	return problem{
		Title:  "This request cannot be processed",
		Detail: whatWasWrong(detail),
		Next:   "Go back to the application and start again.",
	}
}

// whatWasWrong states the cause a handler gave, as written for the
// OAuth error JSON ("client_id is missing": parameter names keep their
// spelling), as a sentence ending in one full stop, never "..".
func whatWasWrong(cause string) string {
	cause = strings.TrimRight(strings.TrimSpace(cause), ".")
	if cause == "" {
		return ""
	}
	return "What was wrong: " + cause + "."
}

// apiPrefixes are the paths of machine endpoints: an unknown path at or
// below them is answered in JSON like the endpoints themselves; any other
// unknown path gets the HTML 404 page.
var apiPrefixes = []string{"/qr", "/oauth", "/account", "/admin", "/.well-known", "/" + pathUserinfo, "/" + pathKeys,
	"/" + pathRevoke, "/healthz", "/ready"}

func apiPath(p string) bool {
	for _, pre := range apiPrefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

// handleNotFound answers a path no route serves: JSON for an API path,
// else the site's 404 page.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if apiPath(r.URL.Path) {
		oauth.WriteError(w, s.log, oauth.New("not_found", "no such endpoint").WithStatus(http.StatusNotFound))
		return
	}
	s.errorPage(w, r, http.StatusNotFound, probNotFound)
}

// formOnly answers a page that takes only a form post when it is opened
// some other way (a typed address, a bookmark): the site's 405 page.
func (s *Server) formOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	s.errorPage(w, r, http.StatusMethodNotAllowed, probFormOnly)
}
