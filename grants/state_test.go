package grants

import (
	"errors"
	"testing"

	"github.com/qrlogin/qrlogin/storage"
)

// Every (status, event) pair: the allowed ones lead where SPEC §2 says,
// every other one is refused and leaves the status unchanged.
func TestNextCoversEveryPair(t *testing.T) {
	allowed := map[storage.Status]map[Event]storage.Status{
		storage.StatusPending: {EventScan: storage.StatusScanned, EventExpire: storage.StatusExpired},
		storage.StatusScanned: {EventScan: storage.StatusScanned, EventConfirm: storage.StatusConfirmed,
			EventDeny: storage.StatusDenied, EventExpire: storage.StatusExpired},
		storage.StatusConfirmed: {EventRedeem: storage.StatusRedeemed, EventExpire: storage.StatusExpired},
	}
	statuses := []storage.Status{storage.StatusInvalid, storage.StatusPending, storage.StatusScanned, storage.StatusConfirmed,
		storage.StatusRedeemed, storage.StatusDenied, storage.StatusExpired}
	events := []Event{EventScan, EventConfirm, EventDeny, EventRedeem, EventExpire, Event(0), Event(99)}
	for _, s := range statuses {
		for _, e := range events {
			got, err := Next(s, e)
			want, ok := allowed[s][e]
			switch {
			case ok && (err != nil || got != want):
				t.Errorf("%s --%s--> %s, %v; want %s", s, e, got, err, want)
			case !ok && (err == nil || !errors.Is(err, ErrTransition) || got != s):
				t.Errorf("%s --%s--> %s, %v; want refusal", s, e, got, err)
			}
		}
	}
}

func TestFinalStates(t *testing.T) {
	for s, final := range map[storage.Status]bool{
		storage.StatusPending: false, storage.StatusScanned: false, storage.StatusConfirmed: false,
		storage.StatusRedeemed: true, storage.StatusDenied: true, storage.StatusExpired: true,
	} {
		if s.Final() != final {
			t.Errorf("%s.Final() = %v", s, !final)
		}
		if storage.ParseStatus(s.String()) != s {
			t.Errorf("status %s does not round-trip", s)
		}
	}
}
