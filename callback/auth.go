package callback

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// secretParam is the query parameter of the callback request that carries
// the shared secret: the gateway's CALLBACK_URL is for example
// http://backend:8080/api/sse/callback?secret=s3cr3t.
const secretParam = "secret"

// An Authenticator decides whether a callback request comes from the
// gateway. Authenticate is called for every callback before its body is
// read, and must not read r.Body. It returns nil to accept. A [*Rejection]
// with a 4xx status answers that status; any other error answers 401 with a
// generic body (the error is logged, not sent). Authenticate must be safe for
// concurrent use and should honour r.Context().
type Authenticator interface {
	Authenticate(r *http.Request) error
}

// AuthenticatorFunc adapts a function to an [Authenticator].
type AuthenticatorFunc func(r *http.Request) error

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) error { return f(r) }

var _ Authenticator = AuthenticatorFunc(nil)

// errBadSecret is the logged cause of a 401 for a missing or wrong secret.
var errBadSecret = errors.New("callback: missing or wrong secret")

// secretAuth checks the shared secret. It keeps only SHA-256 sums of the
// accepted secrets and compares sums, in constant time, so that neither the
// content nor the length of a secret leaks through timing.
type secretAuth struct {
	header string
	sums   [][sha256.Size]byte
}

func newSecretAuth(secrets []string, header string) *secretAuth {
	a := &secretAuth{header: header}
	for _, s := range secrets {
		a.sums = append(a.sums, sha256.Sum256([]byte(s)))
	}
	return a
}

// Authenticate accepts r if its "secret" query parameter or its secret
// header holds one of the secrets. Only the first value of each is
// considered, so one request gets at most two guesses.
func (a *secretAuth) Authenticate(r *http.Request) error {
	ok := 0
	if v := queryValue(r.URL.RawQuery, secretParam); v != "" {
		ok |= a.check(v)
	}
	if v := r.Header.Get(a.header); v != "" {
		ok |= a.check(v)
	}
	if ok != 1 {
		return errBadSecret
	}
	return nil
}

// check returns 1 if v is one of the secrets and 0 otherwise, comparing
// every secret in constant time.
func (a *secretAuth) check(v string) int {
	sum := sha256.Sum256([]byte(v))
	ok := 0
	for i := range a.sums {
		ok |= subtle.ConstantTimeCompare(sum[:], a.sums[i][:])
	}
	return ok
}

// authenticators runs each authenticator in turn; all must accept.
type authenticators []Authenticator

func (as authenticators) Authenticate(r *http.Request) error {
	for _, a := range as {
		if err := a.Authenticate(r); err != nil {
			return err
		}
	}
	return nil
}

// queryValue returns the first value of the query parameter key in
// rawQuery, exactly as url.ParseQuery(rawQuery) and Values.Get would (pairs
// with ';' or invalid escapes are skipped), without building the map.
func queryValue(rawQuery, key string) string {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if strings.Contains(pair, ";") || pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
		}
		if k != key {
			continue
		}
		v, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		return v
	}
	return ""
}
