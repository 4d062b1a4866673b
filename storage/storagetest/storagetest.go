package storagetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// Run checks that stores made by newStore keep the contract of package
// storage. Each rule is a subtest named by the sentence it checks; each
// subtest calls t.Parallel and then newStore(t) once, so newStore must
// return a fresh, empty store on every call and release it with t.Cleanup.
// The suite never calls Close itself.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore(t))
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, s storage.Store)
}

func cases() []testCase {
	all := []testCase{{"a new store is empty", testEmpty}}
	all = append(all, tableCases()...)
	for _, group := range [][]testCase{
		qrLoginCases,
		qrTransitionCases,
		qrDefenceCases,
		qrConcurrencyCases,
		authRequestCases,
		tokenCases,
		entityCases,
		userCases,
		generalCases,
		sessionCases,
		dpopCases,
	} {
		all = append(all, group...)
	}
	return all
}

// testEmpty guards Run's precondition: every other case assumes that it
// starts from nothing, for instance when it checks list order.
func testEmpty(t *testing.T, s storage.Store) {
	ctx := t.Context()
	clients, err := s.ListClients(ctx)
	must(t, err, "ListClients")
	users, err := s.ListUsers(ctx)
	must(t, err, "ListUsers")
	keys, err := s.SigningKeys(ctx)
	must(t, err, "SigningKeys")
	if len(clients)+len(users)+len(keys) != 0 {
		t.Fatalf("a new store holds %d clients, %d users, %d signing keys; newStore must return an empty store",
			len(clients), len(users), len(keys))
	}
}

// base is the suite's "now". It is a fixed instant so that every expiry is
// a comparison the test controls; backends must not consult the wall clock
// where the contract passes a time.
var base = time.Date(2026, time.November, 21, 9, 30, 0, 0, time.UTC)

// at returns base+d.
func at(d time.Duration) time.Time { return base.Add(d) }

// Fixture identities. seed creates them in every store that needs them, so
// that a backend enforcing foreign keys accepts the rows that refer to them.
const (
	clientRP    = "rp"    // a confidential relying party
	clientOther = "other" // a second relying party
	clientApp   = "app"   // the first-party phone app
	alice       = "user-alice"
	bob         = "user-bob"
	carol       = "user-carol"
)

// seed creates the fixture clients and users.
func seed(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	for _, c := range []*storage.Client{
		{ID: clientRP, Name: "Relying Party", SecretHash: storage.Hash("rp-secret"), Type: storage.ClientConfidential,
			RedirectURIs: []string{"https://rp.example/cb"}, GrantTypes: []string{"urn:qrlogin:params:oauth:grant-type:qr"},
			AccessTokenType: "jwt", CreatedAt: base},
		{ID: clientOther, Name: "Other", SecretHash: storage.Hash("other-secret"), Type: storage.ClientConfidential,
			RedirectURIs: []string{"https://other.example/cb"}, AccessTokenType: "opaque", CreatedAt: base},
		{ID: clientApp, Name: "Phone App", Type: storage.ClientPublic, FirstParty: true,
			RedirectURIs: []string{"http://127.0.0.1/cb"}, AccessTokenType: "opaque", CreatedAt: base},
	} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("seed: CreateClient(%s): %v", c.ID, err)
		}
	}
	for _, u := range []*storage.User{
		{ID: alice, Username: "alice", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", Name: "Alice", CreatedAt: base},
		{ID: bob, Username: "bob", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", Name: "Bob", CreatedAt: base},
		{ID: carol, Username: "carol", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", Name: "Carol", CreatedAt: base},
	} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("seed: CreateUser(%s): %v", u.ID, err)
		}
	}
}

// wantErr fails unless err matches target (errors.Is).
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

// wantErrOneOf fails unless err matches one of targets. It is used where the
// contract leaves the choice between sentinels open.
func wantErrOneOf(t *testing.T, err error, what string, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	t.Fatalf("%s: error = %v, want one of %v", what, err, targets)
}

// must fails on a non-nil err.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantSame fails unless got equals want under the contract's rules: times
// compare as instants after want is put in UTC and truncated to the
// microsecond, and got's times must be in UTC; nil and empty slices are
// equal.
func wantSame(t *testing.T, got, want any, what string) {
	t.Helper()
	if d := diff(reflect.ValueOf(got), reflect.ValueOf(want), ""); d != "" {
		t.Fatalf("%s: %s", what, d)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// norm is what the contract says a stored time reads back as.
func norm(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

func diff(got, want reflect.Value, path string) string {
	if !got.IsValid() || !want.IsValid() {
		if got.IsValid() != want.IsValid() {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		return ""
	}
	if got.Type() != want.Type() {
		return fmt.Sprintf("%s: got type %s, want %s", path, got.Type(), want.Type())
	}
	if got.Type() == timeType {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(norm(w)) {
			return fmt.Sprintf("%s: got %v, want %v", path, g, norm(w))
		}
		if !g.IsZero() && g.Location() != time.UTC {
			return fmt.Sprintf("%s: got %v in %v, want UTC", path, g, g.Location())
		}
		return ""
	}
	switch got.Kind() {
	case reflect.Pointer, reflect.Interface:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				return fmt.Sprintf("%s: got %v, want %v", path, got, want)
			}
			return ""
		}
		return diff(got.Elem(), want.Elem(), path)
	case reflect.Struct:
		for i := range got.NumField() {
			f := got.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if d := diff(got.Field(i), want.Field(i), path+"."+f.Name); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice, reflect.Array:
		if got.Len() != want.Len() {
			return fmt.Sprintf("%s: got %d elements %v, want %d %v", path, got.Len(), got, want.Len(), want)
		}
		for i := range got.Len() {
			if d := diff(got.Index(i), want.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		return ""
	}
}

// race runs f(i) for i in [0, n) in n goroutines released at once, and
// returns their errors by i.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner fails unless exactly one of errs is nil and every other one
// matches one of losers. It returns the winner's index.
func oneWinner(t *testing.T, errs []error, what string, losers ...error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("%s: callers %d and %d both succeeded", what, winner, i)
			}
			winner = i
			continue
		}
		ok := false
		for _, l := range losers {
			ok = ok || errors.Is(err, l)
		}
		if !ok {
			t.Fatalf("%s: caller %d: error = %v, want one of %v", what, i, err, losers)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no caller succeeded", what)
	}
	return winner
}
