package main

import "testing"

func TestProfileForHonoursTheEnvironment(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "PRETRAIN_PROFILE" {
				return v
			}
			return ""
		}
	}
	for _, c := range []struct{ flag, env, want string }{
		{"", "", ""}, {"", "upstream", "upstream"}, {"airgap", "upstream", "airgap"},
	} {
		if got := profileFor(c.flag, env(c.env)); got != c.want {
			t.Errorf("profileFor(%q, PRETRAIN_PROFILE=%q) = %q, want %q", c.flag, c.env, got, c.want)
		}
	}
}
