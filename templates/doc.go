// Package templates owns the hosted pages' HTML and static files,
// embedded in the binary: no external CDN, readable on a phone-sized
// screen, labelled for screen readers. Package idp renders them.
package templates
