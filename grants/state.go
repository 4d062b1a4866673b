package grants

import (
	"fmt"

	"github.com/qrlogin/qrlogin/storage"
)

// Event is what happens to a QR login.
type Event uint8

const (
	EventScan    Event = iota + 1 // a signed-in phone scans the QR
	EventConfirm                  // the user confirms on the phone
	EventDeny                     // the user denies on the phone
	EventRedeem                   // the PC's poll receives the tokens
	EventExpire                   // expires_at passes
)

func (e Event) String() string {
	switch e {
	case EventScan:
		return "scan"
	case EventConfirm:
		return "confirm"
	case EventDeny:
		return "deny"
	case EventRedeem:
		return "redeem"
	case EventExpire:
		return "expire"
	}
	return "invalid"
}

// ErrTransition is returned by Next for an event the status does not allow.
var ErrTransition = fmt.Errorf("grants: transition not allowed")

// Next is the QR login state machine (SPEC §2):
//
//	pending --scan--> scanned --confirm--> confirmed --redeem--> redeemed
//	                  scanned --scan (same user)--> scanned (new ticket)
//	                  scanned --deny--> denied
//	any non-final --expire--> expired
//
// Redeemed, denied and expired are final. Whether a rescan comes from the
// same user is checked by the caller (and again by the store's condition).
func Next(s storage.Status, e Event) (storage.Status, error) {
	if s.Final() || s == storage.StatusInvalid {
		return s, fmt.Errorf("%w: %s on %s", ErrTransition, e, s)
	}
	switch e {
	case EventExpire:
		return storage.StatusExpired, nil
	case EventScan:
		if s == storage.StatusPending || s == storage.StatusScanned {
			return storage.StatusScanned, nil
		}
	case EventConfirm:
		if s == storage.StatusScanned {
			return storage.StatusConfirmed, nil
		}
	case EventDeny:
		if s == storage.StatusScanned {
			return storage.StatusDenied, nil
		}
	case EventRedeem:
		if s == storage.StatusConfirmed {
			return storage.StatusRedeemed, nil
		}
	}
	return s, fmt.Errorf("%w: %s on %s", ErrTransition, e, s)
}
