package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// preflightTimeout bounds each entry point's TCP dial: an unreachable
// target is reported in seconds, not after every case's poll budget.
const preflightTimeout = 5 * time.Second

// preflight dials every entry point the cases use once, so an unreachable
// environment fails fast with exit code 3 and names each address.
func preflight(ctx context.Context, tgt target.Target, cases []*contract.Case) error {
	entries := map[string]bool{}
	for _, cs := range cases {
		entries[cs.Entry] = true
	}
	names := make([]string, 0, len(entries))
	for e := range entries {
		names = append(names, e)
	}
	sort.Strings(names)

	var errs []error
	for _, entry := range names {
		ep, err := tgt.Endpoint(entry)
		if errors.Is(err, target.ErrNotApplicable) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q: %w", entry, err))
			continue
		}
		addr, err := dialAddress(ep)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q: %w", entry, err))
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, preflightTimeout)
		conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q (%s): unreachable: %w", entry, ep, err))
			continue
		}
		conn.Close()
	}
	if len(errs) > 0 {
		return fmt.Errorf("target %q is not reachable:\n%w", tgt.Name(), errors.Join(errs...))
	}
	return nil
}

// dialAddress is the host:port the probe will connect to first.
func dialAddress(ep target.Endpoint) (string, error) {
	if ep.Forward != nil {
		u, err := url.Parse(ep.Forward.Endpoint)
		if err != nil {
			return "", fmt.Errorf("forward endpoint %q: %w", ep.Forward.Endpoint, err)
		}
		return hostPort(u), nil
	}
	if ep.ConnectTo != "" {
		return ep.ConnectTo, nil
	}
	if ep.URL == nil {
		return "", errors.New("endpoint has no URL")
	}
	return hostPort(ep.URL), nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
