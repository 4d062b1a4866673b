package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/qrlogin/qrlogin/idp/oauth"
)

// apiError is the body of every error answer of /admin/v1:
// {"error","error_description"}, the shape of RFC 6749 §5.2 and RFC 7591
// §3.2.2.
type apiError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The only failure left is the client hanging up: nothing to do.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, apiError{Code: code, Description: description})
}

// storageError answers a storage failure that is not the caller's fault
// through the one mapping, oauth.StoreError: an outage is 503 with
// Retry-After; anything else is a 500 whose body says nothing about the
// cause (SPEC §7), logged with the request's id.
func (a *api) storageError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.StoreError(err)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status != http.StatusServiceUnavailable {
		a.log.ErrorContext(r.Context(), "admin: storage failure", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, e.Status, e.Code, e.Description)
}

// decodeJSON reads exactly one JSON object into v, rejecting unknown
// fields, trailing data and bodies over maxBody. On failure it has
// written the answer and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json")
			return false
		}
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		// The edge's one rule (oauth.CheckInput): a string field with
		// invalid UTF-8 or a NUL is refused, not silently altered.
		if e := oauth.CheckJSON(body); e != nil {
			writeError(w, e.Status, e.Code, e.Description)
			return false
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil {
			// A second value, or garbage after the object, is an error too.
			if _, terr := dec.Token(); terr != io.EOF {
				err = errors.New("unexpected data after the JSON object")
			}
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("the body exceeds %d bytes", tooBig.Limit))
		return false
	}
	if errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body is empty, want a JSON object")
		return false
	}
	writeError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body: "+jsonProblem(err))
	return false
}

// jsonProblem describes a decoding error without echoing the body back
// (it may hold a password).
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
		}
		return "the body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	}
	// Unknown fields: encoding/json says `json: unknown field "x"`, which
	// names only the field.
	return err.Error()
}
