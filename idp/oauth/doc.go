// Package oauth owns the OAuth 2.0 error codes and the one error type every
// layer of qrlogin returns: grants build *Error values, idp writes them with
// WriteError. It imports nothing of the project.
package oauth
