// Package oauth owns the OAuth 2.0 error codes and the one error type every
// layer of qrlogin returns: grants build *Error values, idp writes them with
// WriteError. It also holds the two rules every edge applies: CheckInput
// (what a value from outside must be before it may reach the store) and
// StoreError (what a store failure becomes in an answer). It imports only
// package storage, for its sentinel errors.
package oauth
