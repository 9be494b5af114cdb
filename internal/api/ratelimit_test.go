package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// loginClient logs in over real TCP from one loopback address, so the
// server sees each client's address as it would on a network.
type loginClient struct {
	t    *testing.T
	url  string
	addr string
	http *http.Client
}

// throttledServer serves the API with the default login limits on a real
// listener and returns it with the owner's password.
func throttledServer(t *testing.T) (*env, *httptest.Server, string) {
	t.Helper()
	e := newEnv(t, func(c *Config) { c.LoginLimits = LoginLimits{} })
	pw := e.addUser("owner", store.RoleDeveloper)
	hs := httptest.NewServer(e.srv.Handler())
	t.Cleanup(hs.Close)
	return e, hs, pw
}

// from returns a client whose connections leave from 127.0.0.<n>.
func from(t *testing.T, hs *httptest.Server, n int) *loginClient {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.%d", n)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 30 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &loginClient{t: t, url: hs.URL, addr: addr, http: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// login posts a login and returns the status and Retry-After in seconds
// (0 when absent).
func (c *loginClient) login(username, password string) (int, int) {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	resp, err := c.http.Post(c.url+"/user/v1/authenticate", "application/json", bytes.NewReader(body))
	if err != nil {
		c.t.Fatalf("login from %s: %v", c.addr, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	retry := 0
	if h := resp.Header.Get("Retry-After"); h != "" {
		if retry, err = strconv.Atoi(h); err != nil {
			c.t.Fatalf("Retry-After %q is not a number of seconds", h)
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests && retry < 1 {
		c.t.Errorf("a 429 from %s without a Retry-After of at least a second", c.addr)
	}
	return resp.StatusCode, retry
}

func TestGuessingFromOneAddressIsSlowedWithoutLockingTheOwnerOut(t *testing.T) {
	e, hs, pw := throttledServer(t)
	guesser, owner := from(t, hs, 2), from(t, hs, 3)

	for i := range DefaultLoginUserAddressBurst {
		if status, _ := guesser.login("owner", fmt.Sprintf("Guess-%d!", i)); status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, status)
		}
	}
	status, retry := guesser.login("owner", "Guess-next!")
	if status != http.StatusTooManyRequests || retry > 60 {
		t.Fatalf("guess %d: %d with Retry-After %d, want 429 within a minute", DefaultLoginUserAddressBurst+1, status, retry)
	}
	// The limit is on the address's tries at this user: even the right
	// password waits there.
	if status, _ := guesser.login("owner", pw); status != http.StatusTooManyRequests {
		t.Errorf("the right password from the guessing address: %d, want 429", status)
	}
	if status, _ := owner.login("owner", pw); status != http.StatusOK {
		t.Errorf("the owner from another address: %d, want 200", status)
	}

	e.clock.Add(time.Minute)
	if status, _ := guesser.login("owner", "Guess-later!"); status != http.StatusUnauthorized {
		t.Errorf("a minute later: %d, want one more guess checked (401)", status)
	}
	if status, _ := guesser.login("owner", "Guess-again!"); status != http.StatusTooManyRequests {
		t.Errorf("a second guess in that minute: %d, want 429", status)
	}
}

func TestTryingManyAccountsFromOneAddressIsSlowed(t *testing.T) {
	_, hs, _ := throttledServer(t)
	stuffer := from(t, hs, 4)
	for i := range DefaultLoginAddressBurst {
		if status, _ := stuffer.login(fmt.Sprintf("user%d", i), "Guess-1!"); status != http.StatusUnauthorized {
			t.Fatalf("account %d: %d, want 401", i+1, status)
		}
	}
	status, retry := stuffer.login("another", "Guess-1!")
	if status != http.StatusTooManyRequests || retry > 12 {
		t.Errorf("account %d: %d with Retry-After %d, want 429 within 12 seconds", DefaultLoginAddressBurst+1, status, retry)
	}
}

func TestGuessingSpreadOverManyAddressesIsSlowedWhileTheOwnerGetsIn(t *testing.T) {
	e, hs, pw := throttledServer(t)
	const addresses = 30
	guessers := make([]*loginClient, addresses)
	for i := range guessers {
		guessers[i] = from(t, hs, 10+i)
	}
	// round sends tries guesses from every address in turn and returns
	// how many reached the password check.
	guess := 0
	round := func(tries int) (checked int) {
		for _, g := range guessers {
			for range tries {
				guess++
				switch status, _ := g.login("owner", fmt.Sprintf("Guess-%d!", guess)); status {
				case http.StatusUnauthorized:
					checked++
				case http.StatusTooManyRequests:
				default:
					t.Fatalf("guess from %s: %d", g.addr, status)
				}
			}
		}
		return checked
	}

	// Each address's first guess is checked (it has no failure yet), and
	// the user's 10 more at once; nothing beyond.
	if checked, most := round(3), DefaultLoginUserBurst+addresses; checked > most {
		t.Errorf("first round: %d of %d guesses checked, want at most %d", checked, 3*addresses, most)
	}
	if checked := round(3); checked != 0 {
		t.Errorf("second round, at once: %d guesses checked, want none", checked)
	}
	if status, _ := from(t, hs, 200).login("owner", pw); status != http.StatusOK {
		t.Errorf("the owner, from an address with no failures, during the attack: %d, want 200", status)
	}

	// A minute later the user's bucket has 5 tokens for all the failed
	// addresses together.
	e.clock.Add(time.Minute)
	if checked, most := round(1), int(time.Minute/DefaultLoginUserEvery); checked > most || checked == 0 {
		t.Errorf("a minute later: %d guesses checked, want 1 to %d", checked, most)
	}

	// An owner who mistypes during the attack waits at that address, at
	// most until the failure is forgotten, and is welcome at another.
	mistyping := from(t, hs, 201)
	if status, _ := mistyping.login("owner", "Typo-in-it1!"); status != http.StatusUnauthorized {
		t.Fatalf("a typo: %d, want 401", status)
	}
	status, retry := mistyping.login("owner", pw)
	if status != http.StatusTooManyRequests || retry > int(DefaultLoginFailureMemory/time.Second) {
		t.Errorf("the right password after a typo, during the attack: %d with Retry-After %d, want 429 within %s", status, retry, DefaultLoginFailureMemory)
	}
	if status, _ := from(t, hs, 202).login("owner", pw); status != http.StatusOK {
		t.Errorf("the owner from yet another clean address: %d, want 200", status)
	}
}

func TestAFailedCheckUnderWayHoldsItsAddressBackDuringAnAttack(t *testing.T) {
	th := newLoginThrottle(LoginLimits{})
	now := time.Now()
	for i := range DefaultLoginUserBurst {
		addr := fmt.Sprintf("198.51.100.%d", i)
		if r := th.admit("owner", addr, now); r != nil {
			t.Fatalf("guess %d: refused: %s", i, r.detail)
		}
		th.finish("owner", addr, true, true, now)
	}
	// Two checks at once from a fresh address: the first is let through,
	// the second waits, as the first may be a failure.
	if r := th.admit("owner", "203.0.113.1", now); r != nil {
		t.Fatalf("the first check from a fresh address: %s", r.detail)
	}
	if r := th.admit("owner", "203.0.113.1", now); r == nil {
		t.Error("a second check at the same time from that address was let through")
	}
	th.finish("owner", "203.0.113.1", true, false, now)
	if r := th.admit("owner", "203.0.113.1", now); r != nil {
		t.Errorf("after the right password: refused: %s", r.detail)
	}
}

func TestTheThrottleKeepsItsMemoryBounded(t *testing.T) {
	th := newLoginThrottle(LoginLimits{})
	now := time.Now()
	for i := range maxLimitedKeys {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)
		if r := th.admit(fmt.Sprintf("user%d", i), addr, now); r != nil {
			t.Fatalf("key %d: refused: %s", i, r.detail)
		}
		th.finish(fmt.Sprintf("user%d", i), addr, true, true, now)
	}
	r := th.admit("newcomer", "192.0.2.99", now)
	if r == nil || r.wait <= 0 {
		t.Fatalf("a new key with every slot holding a fresh failure: %+v, want refused with a wait", r)
	}
	later := now.Add(DefaultLoginFailureMemory + time.Hour)
	if r := th.admit("newcomer", "192.0.2.99", later); r != nil {
		t.Errorf("once the failures are old: refused: %s", r.detail)
	}
	if n := len(th.byPair) + len(th.byAddr) + len(th.byUser); n > 3 {
		t.Errorf("%d keys kept after the sweep, want only the newcomer's", n)
	}
}
