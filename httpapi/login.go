package httpapi

import (
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/parley"
)

// Sign-in limits. See docs/security.md, "Credentials and tokens".
const (
	// loginAddrBurst failed sign-ins from one address are allowed at once,
	// then one more every loginAddrEvery.
	loginAddrBurst = 10
	loginAddrEvery = 6 * time.Second
	// loginAccountBurst failed sign-ins to one account are allowed at once
	// (from any addresses), then one more every loginAccountEvery. It is
	// larger than loginAddrBurst, so one address cannot throttle an
	// account alone.
	loginAccountBurst = 30
	loginAccountEvery = 6 * time.Second
	// loginTableSize bounds each table (addresses, accounts, addresses an
	// account signed in from).
	loginTableSize = 10000
)

// loginLimiter slows down password guessing without locking the right
// password out:
//
//   - Per address, failed sign-ins are limited; while an address is over
//     its limit, its attempts are refused before the password is checked.
//   - Per account, failed sign-ins from all addresses together are
//     limited; while an account is over its limit, attempts for it are
//     refused, except from addresses it signed in from before, which are
//     checked as usual.
//
// Only failures count: an attempt takes a token from both buckets before
// the password is checked (so parallel guesses cannot overshoot) and a
// success gives them back. A correct password from an address that is not
// itself throttled therefore gets in while another address guesses, and
// the owner of an account under a distributed attack still gets in from
// an address they used before.
type loginLimiter struct {
	addrs    *keyedLimiter
	accounts *keyedLimiter
	known    *lruSet // account + "\x00" + address of past successes
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{
		addrs:    newKeyedLimiter(loginAddrEvery, loginAddrBurst, loginTableSize),
		accounts: newKeyedLimiter(loginAccountEvery, loginAccountBurst, loginTableSize),
		known:    newLRUSet(loginTableSize),
	}
}

// loginAttempt is an attempt the limiter let through; finish tells it the
// outcome.
type loginAttempt struct {
	l           *loginLimiter
	ip, account string
	addr, acct  *rate.Reservation
	now         time.Time
}

// accountKey normalises an email for the per-account table.
func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// begin admits a sign-in attempt from ip for email at now, or refuses it
// with a rate_limited error that says when to retry.
func (l *loginLimiter) begin(ip, email string, now time.Time) (*loginAttempt, error) {
	account := accountKey(email)
	addr, wait := l.addrs.take(ip, now)
	if addr == nil {
		return nil, parley.RateLimited(wait, "Too many failed sign-ins from your address; try again in %s.", roundUp(wait))
	}
	acct, wait := l.accounts.take(account, now)
	if acct == nil && !l.known.has(account+"\x00"+ip) {
		addr.CancelAt(now)
		return nil, parley.RateLimited(wait, "Too many failed sign-ins to this account; try again in %s.", roundUp(wait))
	}
	return &loginAttempt{l: l, ip: ip, account: account, addr: addr, acct: acct, now: now}, nil
}

// finish records the outcome: a success gives the tokens back and
// remembers the address for the account.
func (a *loginAttempt) finish(ok bool) {
	if !ok {
		return
	}
	a.addr.CancelAt(a.now)
	if a.acct != nil {
		a.acct.CancelAt(a.now)
	}
	a.l.known.add(a.account + "\x00" + a.ip)
}

// roundUp formats d in whole seconds, at least one.
func roundUp(d time.Duration) time.Duration {
	return max(time.Second, (d + time.Second - 1).Truncate(time.Second))
}
