package callback

import (
	"net/url"
	"testing"
)

func TestQueryValue(t *testing.T) {
	for _, q := range []string{
		"", "secret=s", "a=1&secret=s&secret=t", "secret=", "secret", "secret=a%20b", "secret=a+b",
		"sec%72et=x", "secret=%zz&secret=y", "secret=x;y&secret=z", "x=1;secret=2&secret=3",
		"&&secret=s", "secret=s=t", "%zz=1&secret=ok", "secre+t=no&secret=yes",
	} {
		v, _ := url.ParseQuery(q)
		want := v.Get("secret")
		if got := queryValue(q, "secret"); got != want {
			t.Errorf("queryValue(%q) = %q, url.ParseQuery says %q", q, got, want)
		}
	}
}

func FuzzQueryValue(f *testing.F) {
	f.Add("a=1&secret=s%20t")
	f.Fuzz(func(t *testing.T, q string) {
		v, _ := url.ParseQuery(q)
		if got, want := queryValue(q, "secret"), v.Get("secret"); got != want {
			t.Fatalf("queryValue(%q) = %q, url.ParseQuery says %q", q, got, want)
		}
	})
}
