package suites_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/run"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// The go test front end. Environment:
//
//	PRETRAIN_TARGET      "" (default): the in-process replica with correct routing;
//	                     "replicatest:FAULT[,FAULT]": the in-process replica with faults
//	                     and features switched off ("edge-diversion-off");
//	                     "config": the config tier on the example routing input;
//	                     "config:MUTATION[,MUTATION]": the same, mutated
//	                     (fixtures/mutations/routes.yaml);
//	                     otherwise a static target FILE.
//	PRETRAIN_CONTRACT    a contract FILE (default: the built-in contract).
//	PRETRAIN_FEATURES    the features (rollout steps) on, as run's --features:
//	                     "none", "all" or names; default: what the target declares
//	                     (the replica: those it has on; config and static files: all).
//	PRETRAIN_REPORT_DIR  write report.json, junit.xml and evidence there.
//	PRETRAIN_POLL_TIMEOUT, PRETRAIN_POLL_INTERVAL  per-case polling, as
//	                     pretrain-check run's --poll-timeout and --poll-interval.
const (
	envTarget       = "PRETRAIN_TARGET"
	envContract     = "PRETRAIN_CONTRACT"
	envReportDir    = "PRETRAIN_REPORT_DIR"
	envPollTimeout  = "PRETRAIN_POLL_TIMEOUT"
	envPollInterval = "PRETRAIN_POLL_INTERVAL"
	envFeatures     = "PRETRAIN_FEATURES"
)

// inProcessPoll suits the in-process replica: its routing is consistent
// at once, so a wrong answer need not be waited on for long.
var inProcessPoll = check.PollConfig{
	Timeout:             1500 * time.Millisecond,
	Interval:            10 * time.Millisecond,
	RequiredConsecutive: 3,
	MaxHistory:          5,
}

func TestSuites(t *testing.T) {
	c, err := loadContract(os.Getenv(envContract))
	if err != nil {
		t.Fatal(err)
	}
	tgt, poll, latencyOptions, closeTarget, err := openTarget(os.Getenv(envTarget))
	if err != nil {
		t.Fatal(err)
	}
	defer closeTarget()
	if err := pollFromEnv(&poll); err != nil {
		t.Fatal(err)
	}
	on := target.DeclaredFeatures(tgt, c)
	if v := os.Getenv(envFeatures); v != "" {
		if on, err = c.ParseFeatureList(v); err != nil {
			t.Fatalf("%s: %v", envFeatures, err)
		}
	}
	if c, err = c.ForFeatures(on); err != nil {
		t.Fatal(err)
	}

	res, err := run.Run(context.Background(), run.Options{
		Contract:  c,
		Target:    tgt,
		Probe:     probe.Options{Timeout: 5 * time.Second, BustCache: tgt.Live()},
		Poll:      poll,
		Latency:   latencyOptions,
		ReportDir: os.Getenv(envReportDir),
		T:         t,
	})
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv(envReportDir); dir != "" {
		if err := res.Report.WriteDir(dir); err != nil {
			t.Errorf("write report to %s: %v", dir, err)
		}
	}
}

func loadContract(file string) (*contract.Contract, error) {
	if file == "" {
		return contract.Default()
	}
	return contract.Load(file)
}

// inProcessLatency keeps budgets short on the in-process replica: the
// budgets' full rates and durations are for real targets.
var inProcessLatency = latency.Options{RateScale: 10, MaxDuration: time.Second}

func openTarget(spec string) (target.Target, check.PollConfig, latency.Options, func(), error) {
	var lat latency.Options
	if spec == "" || spec == "replicatest" || strings.HasPrefix(spec, "replicatest:") {
		var opts []replicatest.Option
		if list, ok := strings.CutPrefix(spec, "replicatest:"); ok {
			var err error
			if opts, err = replicatest.ParseSpec(list); err != nil {
				return nil, check.PollConfig{}, lat, nil, err
			}
		}
		r, err := replicatest.StartWith(opts...)
		if err != nil {
			return nil, check.PollConfig{}, lat, nil, fmt.Errorf("start in-process replica: %w", err)
		}
		lat = inProcessLatency
		return r.Target(), inProcessPoll, lat, func() { r.Close() }, nil
	}
	if spec == "config" || strings.HasPrefix(spec, "config:") {
		tier, err := startConfigTier(spec)
		if err != nil {
			return nil, check.PollConfig{}, lat, nil, err
		}
		lat = inProcessLatency
		return tier.Target(), inProcessPoll, lat, func() { tier.Close() }, nil
	}
	t, err := target.LoadStatic(spec)
	if err != nil {
		return nil, check.PollConfig{}, lat, nil, err
	}
	return t, check.DefaultPollConfig(), lat, func() {}, nil
}

func pollFromEnv(poll *check.PollConfig) error {
	for env, field := range map[string]*time.Duration{envPollTimeout: &poll.Timeout, envPollInterval: &poll.Interval} {
		v := os.Getenv(env)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s=%q: %w", env, v, err)
		}
		*field = d
	}
	return nil
}
