package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// apiError is an error answer of the phone or account API (SPEC §2.3):
// {"error","error_description"} with its HTTP status.
type apiError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// Error says what happened and what to do, in the user's terms.
func (e *apiError) Error() string {
	switch {
	case e.Status == http.StatusUnauthorized:
		return "the provider does not accept this phone app's sign-in (expired or revoked): run qrphone login"
	case e.Code == "insufficient_scope":
		return "this sign-in may not approve QR logins (it needs scope qr:approve from the first-party app): run qrphone login"
	case e.Code == "forbidden":
		return "this QR login was scanned with another account or on another device: it can only be confirmed or denied there"
	case e.Code == "qr_not_found":
		return "this QR code is unknown, expired or already used (or the confirmation took too long): ask for a new QR code"
	case e.Code == "qr_already_scanned":
		return "another account has already scanned this QR code: if that was not expected, do not sign in on that PC, and ask for a new QR code"
	case e.Code == "qr_already_decided":
		return "this sign-in has already been confirmed or denied"
	case e.Code == "not_found" && e.Description != "":
		return sanitize(e.Description) // "no such notification", "no such session"
	case e.Code == "not_found":
		return "not found"
	case e.Status == http.StatusTooManyRequests:
		return "too many requests: wait a moment and try again"
	case e.Code != "":
		return fmt.Sprintf("the provider answered HTTP %d: %s", e.Status, describe(e.Code, e.Description))
	default:
		return fmt.Sprintf("the provider answered HTTP %d", e.Status)
	}
}

// call sends one request of the phone API with the session's bearer token
// (RFC 6750 §2.1) and decodes a 200 answer into out. When the provider
// rejects a token the clock thought live (revoked, clocks apart), the
// token is refreshed once and the request repeated.
func (s *session) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	refreshed := false
	for {
		tok, err := s.accessToken(ctx, false)
		if err != nil {
			return err
		}
		err = s.do(ctx, method, path, tok, body, out)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && !refreshed && s.tok.RefreshToken != "" {
			refreshed = true
			if _, rerr := s.accessToken(ctx, true); rerr != nil {
				return rerr
			}
			continue
		}
		return err
	}
}

func (s *session) do(ctx context.Context, method, path, token string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.g.issuer+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.env.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the provider at %s: %w", s.g.issuer, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the provider's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		ae := &apiError{Status: resp.StatusCode}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			_ = json.Unmarshal(raw, ae) // a body that does not parse leaves the status to speak
			ae.Status = resp.StatusCode
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("the provider's answer is not the expected JSON: %w", err)
	}
	return nil
}
