package httpbb

import (
	"fmt"
	"net/http"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live"
)

// AllowPostFlag is the command-line flag that sets Options.AllowPost; the
// refusals name it so the user knows the one way past them.
const AllowPostFlag = "--allow-post-to-production"

// checkFor is the guard check a test's requests pass. By default it is
// the guard's own: GET and HEAD without a body, an empty POST to
// RunSingleJob.php, nothing else. With allowPost, a POST from test t (its
// own body, of its own length, nothing else) is judged by the guard as
// its body-less GET twin: same URL, Host, headers and context, so every
// other rule still holds (https only, the hosts allow-list, valid headers,
// the User-Agent policy, and the rate cap, whose slot the twin takes).
func checkFor(g *live.Guard, t *Test, allowPost bool) func(*http.Request) error {
	if !allowPost || t.Method != http.MethodPost {
		return g.Check
	}
	return func(req *http.Request) error {
		if req == nil || req.URL == nil {
			return g.Check(req)
		}
		if req.Method != http.MethodPost {
			return g.Check(req)
		}
		if req.ContentLength != int64(len(t.Body)) || len(req.TransferEncoding) > 0 {
			return fmt.Errorf("%w: POST with a body of %d bytes, but test %s declares %d", live.ErrRefused, req.ContentLength, t.Name(), len(t.Body))
		}
		twin := req.Clone(req.Context())
		twin.Method = http.MethodGet
		twin.Body, twin.GetBody, twin.ContentLength = nil, nil, 0
		return g.Check(twin)
	}
}

// admit applies the guard's static rules to test t: as the guard has
// them, or, for a POST when allowPost, its host rules alone (as a GET).
// A POST refused for want of allowPost says so and names the flag.
func admit(g *live.Guard, t *Test, allowPost bool) error {
	if allowPost && t.Method == http.MethodPost {
		return g.Admit(http.MethodGet, t.BaseURL.Host, t.Path, 0)
	}
	err := g.Admit(t.Method, t.BaseURL.Host, t.Path, int64(len(t.Body)))
	if err == nil {
		return nil
	}
	switch {
	case t.Method == http.MethodPost && t.Body != "":
		return fmt.Errorf("%w; this POST sends a %s (%d bytes) and runs code on production: it is sent only with %s",
			err, t.BodyKey, len(t.Body), AllowPostFlag)
	case t.Method == http.MethodPost:
		return fmt.Errorf("%w; it is sent only with %s", err, AllowPostFlag)
	case t.Body != "":
		return fmt.Errorf("%w; a %s is sent with POST only (even with %s)", err, t.BodyKey, AllowPostFlag)
	}
	return err
}
