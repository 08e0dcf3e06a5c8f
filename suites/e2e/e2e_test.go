//go:build e2e

package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/cluster"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/differential"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/images"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/run"
)

const (
	envManifest  = "PRETRAIN_IMAGES_MANIFEST"
	envReportDir = "PRETRAIN_REPORT_DIR"
	envKeep      = "PRETRAIN_E2E_KEEP"
	envFaults    = "PRETRAIN_E2E_FAULTS"
	envCluster   = "PRETRAIN_E2E_CLUSTER"

	// The child process that runs the Ginkgo suites (Ginkgo runs once per
	// process, and each fault needs its own run).
	envChild       = "PRETRAIN_E2E_CHILD"
	envChildReport = "PRETRAIN_E2E_CHILD_REPORT"
	envChildPoll   = "PRETRAIN_E2E_CHILD_POLL_TIMEOUT"
	// The child's kubeconfig (the replica's, written once by the parent,
	// or the existing cluster's) and, on an existing cluster, the kind
	// config of its port mappings.
	envChildKubeconfig = "PRETRAIN_E2E_CHILD_KUBECONFIG"
	envChildKindConfig = "PRETRAIN_E2E_CHILD_KIND_CONFIG"
)

// proofPollTimeout is a case's budget in a fault proof. Inject has already
// seen the fault's witness take the wrong route RequiredConsecutive times
// in a row, so the routing has converged: a case that should pass needs
// milliseconds, and one the fault breaks only waits this out.
const proofPollTimeout = 2 * time.Second

// e2eLatency runs each latency budget against the replica at five times
// its live-safe rate for at most 3 s (a 20 s budget at 2 req/s becomes 30
// requests in 3 s): the same ceilings, the same kind of sample, a seventh
// of the time. `pretrain-check run --target kind` keeps the contract's
// rates.
var e2eLatency = latency.Options{RateScale: 5, MaxDuration: 3 * time.Second}

var (
	root    string
	replica *cluster.Replica
	keep    cluster.KeepPolicy // PRETRAIN_E2E_KEEP
	failed  atomic.Bool        // a test failed: KeepOnFailure keeps the cluster
	runCtx  context.Context
	logger  = os.Stdout
)

// noteFailure records, when t ends, whether it failed (for the keep policy).
func noteFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			failed.Store(true)
		}
	})
}

func repoRoot() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}

func orDefault(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

func reportDir() string {
	d := orDefault(envReportDir, filepath.Join(root, "_output", "e2e"))
	if !filepath.IsAbs(d) {
		d = filepath.Join(root, d)
	}
	return d
}

func TestMain(m *testing.M) {
	root = repoRoot()
	if os.Getenv(envChild) != "" {
		os.Exit(m.Run())
	}
	var err error
	if keep, err = cluster.ParseKeepPolicy(os.Getenv(envKeep)); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %s: %v\n", envKeep, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	runCtx = ctx
	testEnv, err := env.NewWithContext(ctx, envconf.New())
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v\n", err)
		os.Exit(1)
	}
	testEnv.Setup(bringUp).Finish(tearDown)
	code := testEnv.Run(m)
	stop()
	os.Exit(code)
}

// bringUp is the e2e-framework Setup: the replica from the images manifest.
func bringUp(ctx context.Context, _ *envconf.Config) (context.Context, error) {
	opts, err := replicaOptions()
	if err != nil {
		return ctx, err
	}
	replica, err = cluster.Up(ctx, append(opts,
		cluster.WithKeep(keep != cluster.KeepNever), // a failed bring-up is a failure
		cluster.WithReportDir(reportDir()),
		cluster.WithLogger(logger),
	)...)
	return ctx, err
}

// replicaOptions locate the replica: the parent brings it up with them,
// a child attaches to it.
func replicaOptions() ([]cluster.Option, error) {
	mpath := orDefault(envManifest, filepath.Join(root, "_output", "images.json"))
	m, err := images.ReadManifest(mpath)
	if err != nil {
		return nil, fmt.Errorf("e2e needs the images (go run ./cmd/pretrain-images): %w", err)
	}
	opts := []cluster.Option{
		cluster.WithName(orDefault(envCluster, cluster.DefaultName)),
		cluster.WithConfigFile(orDefault(envChildKindConfig, filepath.Join(root, cluster.DefaultConfigFile))),
		cluster.WithFixtures(filepath.Join(root, cluster.DefaultFixtures)),
		cluster.WithImages(m.Images),
	}
	if kc := os.Getenv(envChildKubeconfig); kc != "" {
		opts = append(opts, cluster.WithKubeconfig(kc))
	}
	return opts, nil
}

// tearDown is the e2e-framework Finish: it runs even after a panic.
func tearDown(ctx context.Context, _ *envconf.Config) (context.Context, error) {
	if kubeconfigPath != "" {
		os.RemoveAll(filepath.Dir(kubeconfigPath))
	}
	return ctx, releaseReplica()
}

// releaseReplica deletes the replica's cluster, unless the keep policy
// keeps it; afterwards there is no replica.
func releaseReplica() error {
	if replica == nil {
		return nil
	}
	if keep.Keep(failed.Load()) {
		fmt.Fprintf(logger, "[down] keeping cluster %q (%s=%s)\n", replica.Name(), envKeep, keep)
		return nil
	}
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := replica.Down(dctx)
	replica = nil
	return err
}

// TestChildSuites is the child process: the suites, generated from the
// default contract, against the kind target.
func TestChildSuites(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("runs only as the child of TestSuites and TestFaults")
	}
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	// Attached, not from the kind config alone: the ingress entries go to
	// the gateway the parent generated, trusted by its CA.
	opts, err := replicaOptions()
	if err != nil {
		t.Fatal(err)
	}
	attached, err := cluster.Attach(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	tg := attached.Target()
	poll := check.DefaultPollConfig()
	requestTimeout := 5 * time.Second
	concurrency := 0 // run's default
	if v := os.Getenv(envChildPoll); v != "" {
		if poll.Timeout, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
		// A proof checks every case at once: the cases the fault breaks
		// wait out their budget together, not in waves of eight.
		concurrency = len(c.Cases)
		// A connection that stalls (a SYN lost to a pod just replaced)
		// leaves time for another attempt within the budget.
		requestTimeout = proofPollTimeout / 2
	}
	dir := os.Getenv(envChildReport)
	res, err := run.Run(context.Background(), run.Options{
		Contract:    c,
		Target:      tg,
		SuiteName:   "pretrain-check on the kind replica",
		Probe:       probe.Options{Timeout: requestTimeout},
		Poll:        poll,
		Latency:     e2eLatency,
		Concurrency: concurrency,
		ReportDir:   dir,
		T:           t,
	})
	if err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		if err := res.Report.WriteDir(dir); err != nil {
			t.Errorf("write report to %s: %v", dir, err)
		}
	}
}

// childRun is one run of the suites in a child process.
type childRun struct {
	failed []string // sorted names of the failed cases
	// unsure counts the checks without a verdict (inconclusive, n/a,
	// skipped): on the replica every check must decide.
	unsure  int
	summary string
	exitErr error
	output  []byte
}

// runChild runs the suites in a child process and reads its report; the
// error says why there is no report (the child's failures are in childRun).
func runChild(ctx context.Context, dir string, pollTimeout time.Duration, ginkgoArgs ...string) (childRun, error) {
	kc, err := replicaKubeconfig()
	if err != nil {
		return childRun{}, err
	}
	return runChildEnv(ctx, dir, pollTimeout, []string{envChildKubeconfig + "=" + kc}, ginkgoArgs...)
}

var (
	kubeconfigOnce sync.Once
	kubeconfigPath string
	kubeconfigErr  error
)

// replicaKubeconfig writes the replica's kubeconfig once, for the children:
// attaching with it saves each child the second kind takes to read it from
// the node. Not in the report directory: it holds the cluster's admin key.
func replicaKubeconfig() (string, error) {
	kubeconfigOnce.Do(func() {
		var dir string
		if dir, kubeconfigErr = os.MkdirTemp("", "pretrain-e2e-"); kubeconfigErr != nil {
			return
		}
		kubeconfigPath = filepath.Join(dir, "kubeconfig")
		kubeconfigErr = os.WriteFile(kubeconfigPath, replica.Kubeconfig(), 0o600)
	})
	return kubeconfigPath, kubeconfigErr
}

// runChildEnv is runChild with more environment (another replica).
func runChildEnv(ctx context.Context, dir string, pollTimeout time.Duration, env []string, ginkgoArgs ...string) (childRun, error) {
	args := append([]string{"-test.run=^TestChildSuites$", "-test.count=1", "-test.timeout=0"}, ginkgoArgs...)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), envChild+"=1", envChildReport+"="+dir), env...)
	if pollTimeout > 0 {
		cmd.Env = append(cmd.Env, envChildPoll+"="+pollTimeout.String())
	}
	out, err := cmd.CombinedOutput()
	res := childRun{exitErr: err, output: out}
	data, rerr := os.ReadFile(filepath.Join(dir, "report.json"))
	if rerr != nil {
		return res, fmt.Errorf("suites wrote no report (%v); exit: %v\n%s", rerr, err, tail(out, 60))
	}
	var rep report.JSONReport
	if err := json.Unmarshal(data, &rep); err != nil {
		return res, fmt.Errorf("parse %s: %w", filepath.Join(dir, "report.json"), err)
	}
	for _, c := range rep.Cases {
		if c.Outcome == string(check.Failed) {
			res.failed = append(res.failed, c.Name)
		}
	}
	// A share check that fails is named too: no fault may break one.
	for _, sh := range rep.Shares {
		if sh.Outcome == string(check.Failed) {
			res.failed = append(res.failed, "share "+sh.Name)
		}
	}
	sort.Strings(res.failed)
	res.unsure = rep.Summary.Inconclusive + rep.Summary.NotApplicable + rep.Summary.Skipped
	res.summary = fmt.Sprintf("%d checks: %d passed, %d failed, %d inconclusive, %d not applicable, %d skipped",
		rep.Summary.Total, rep.Summary.Passed, rep.Summary.Failed, rep.Summary.Inconclusive, rep.Summary.NotApplicable, rep.Summary.Skipped)
	return res, nil
}

// TestSuites: every suite, latency budgets included, passes on the replica.
func TestSuites(t *testing.T) {
	noteFailure(t)
	dir := filepath.Join(reportDir(), "suites")
	var res childRun
	err := cluster.Timed(runCtx, logger, "e2e", "suites", 30*time.Minute, func(ctx context.Context) (string, error) {
		var err error
		res, err = runChild(ctx, dir, 0)
		return res.summary, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.failed) > 0 || res.unsure > 0 || res.exitErr != nil {
		diagnose(t, dir)
		t.Fatalf("suites failed on the replica (%s; exit %v): %q\nreport: %s\n%s", res.summary, res.exitErr, res.failed, dir, tail(res.output, 80))
	}
	t.Logf("%s; report in %s", res.summary, dir)
}

// TestUpstreamProfileDryRun: the upstream profile (kindest/node and the real
// ingress-nginx, which need a registry) stays valid: its manifests pass a
// server-side dry-run on the replica's API server.
func TestUpstreamProfileDryRun(t *testing.T) {
	noteFailure(t)
	var n int
	err := cluster.Timed(runCtx, logger, "e2e", "dry-run", 2*time.Minute, func(ctx context.Context) (string, error) {
		var err error
		n, err = replica.DryRun(ctx, cluster.ProfileUpstream)
		return fmt.Sprintf("upstream profile, %d objects", n), err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFaults: for each fault made in the live replica, the suites fail and
// name exactly the cases the fault breaks; the replica is restored after
// each (and the restore is itself checked).
func TestFaults(t *testing.T) {
	noteFailure(t)
	faults := cluster.Faults()
	if sel := os.Getenv(envFaults); sel != "" {
		if sel == "none" {
			t.Skip(envFaults + "=none")
		}
		faults = nil
		for _, name := range strings.Split(sel, ",") {
			f, err := cluster.FaultByName(strings.TrimSpace(name))
			if err != nil {
				t.Fatal(err)
			}
			faults = append(faults, f)
		}
	}
	for _, f := range faults {
		ok := t.Run(f.Name, func(t *testing.T) {
			// Revert even when the injection fails half-way (a variant
			// started, the Services not yet pointed at it): the next fault
			// must start from the fixtures.
			reverted := false
			defer func() {
				if !reverted {
					if err := replica.Revert(context.WithoutCancel(runCtx), f); err != nil {
						t.Errorf("restore after fault %q: %v", f.Name, err)
					}
				}
			}()
			if err := replica.Inject(runCtx, f); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(reportDir(), "faults", f.Name)
			var res childRun
			err := cluster.Timed(runCtx, logger, "e2e", "suites", 20*time.Minute, func(ctx context.Context) (string, error) {
				// The latency budgets are not routing: left out of the proofs.
				var err error
				res, err = runChild(ctx, dir, proofPollTimeout, "-ginkgo.label-filter=!latency")
				return fmt.Sprintf("fault %s: %s", f.Name, res.summary), err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.failed) == 0 {
				t.Errorf("fault %q: no case failed: the suites cannot see it\n%s", f.Name, tail(res.output, 40))
			}
			if res.exitErr == nil {
				t.Errorf("fault %q: the suites exited 0 with %d failed cases", f.Name, len(res.failed))
			}
			if !slices.Equal(res.failed, f.Breaks) {
				diagnose(t, dir)
				t.Errorf("fault %q: failed cases differ\n  missing (should fail, passed): %q\n  unexpected (failed, should pass): %q\nreport: %s",
					f.Name, minus(f.Breaks, res.failed), minus(res.failed, f.Breaks), dir)
			}
			reverted = true
			if err := replica.Revert(runCtx, f); err != nil {
				t.Fatalf("restore after fault %q: %v", f.Name, err)
			}
		})
		if !ok && runCtx.Err() != nil {
			return
		}
	}
}

// diagnose prints the replica's diagnostics and writes them under dir,
// without a second command.
func diagnose(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), time.Minute)
	defer cancel()
	if err := replica.CollectDiagnostics(ctx, dir); err != nil {
		t.Logf("diagnostics incomplete: %v", err)
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func tail(out []byte, lines int) string {
	ls := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return fmt.Sprintf("--- last %d lines of the suites' output ---\n%s", len(ls), strings.Join(ls, "\n"))
}

// TestDNSResolvesClusterNamesOnly: inside the replica, cluster names
// resolve, the production names the replica serves (the mw-pretrain
// gateways', the XWD backends') are its Services, and every other name is
// NXDOMAIN (the Corefile in
// fixtures/kind/configmaps/kube-system/coredns), so no proxy can send a
// request outside the replica. With kubeadm's Corefile the outside names
// resolve (the host's resolver answers; here, the sandbox's proxy address).
func TestDNSResolvesClusterNamesOnly(t *testing.T) {
	noteFailure(t)
	ctx, cancel := context.WithTimeout(runCtx, time.Minute)
	defer cancel()
	for _, name := range []string{"mediawiki-main.mw-api-ext.svc.cluster.local", "rest-gateway.pretrain-infra.svc.cluster.local"} {
		addrs, err := replica.Resolve(ctx, name)
		if err != nil || len(addrs) == 0 {
			t.Errorf("cluster name %s: expected addresses, got %v (%v)", name, addrs, err)
		}
	}
	// Production's names the replica serves are its own Services, and
	// nothing else: the mw-pretrain gateways' (the ingress gateway) and the
	// XWD backends' (their TLS listeners).
	for svc, names := range map[string][]string{
		"ingressgateway.pretrain-infra.svc.cluster.local": {"mw-pretrain.discovery.wmnet", "mw-pretrain.svc.codfw.wmnet", "mw-pretrain-jobrunner.discovery.wmnet"},
		"xwd-backends.pretrain-infra.svc.cluster.local":   {"mwdebug.discovery.wmnet", "mwdebug-next.svc.eqiad.wmnet", "mw-experimental.codfw.wmnet", "mw-parsoid.eqiad.wmnet"},
	} {
		want, err := replica.Resolve(ctx, svc)
		if err != nil || len(want) == 0 {
			t.Fatalf("Service %s does not resolve: %v (%v)", svc, want, err)
		}
		for _, name := range names {
			addrs, err := replica.Resolve(ctx, name)
			if err != nil || !slices.Equal(addrs, want) {
				t.Errorf("production name %s: expected Service %s %v, got %v (%v)", name, svc, want, addrs, err)
			}
		}
	}
	// Names a host resolver answers (the module proxy and Debian's mirror
	// resolve on the machines this runs on), production's names the replica
	// does not serve, and near-misses of the ones it does.
	for _, name := range []string{"proxy.golang.org", "deb.debian.org", "en.wikipedia.org", "mwdebug1001.eqiad.wmnet",
		"xmw-pretrain.discovery.wmnet", "mw-pretrain.discovery.wmnet.example.org", "mw-pretrain.svc.ulsfo.wmnet", "mw-parsoid.discovery.wmnet"} {
		addrs, err := replica.Resolve(ctx, name)
		if !errors.Is(err, cluster.ErrNoSuchName) {
			t.Errorf("outside name %s: expected NXDOMAIN inside the replica, got %v (%v)", name, addrs, err)
		}
	}
}

// differentialSeed makes the generated requests reproducible; the haproxy
// package's host proof uses its own.
const differentialSeed = 20261130

// TestGatewayDifferential: the replica's ingress gateway (HAProxy
// generated from the routing input, in the cluster, behind its NodePort)
// picks the destination the model picks (outcome, route, Deployment) for
// every contract case of its entries and at least 300 generated requests
// (hosts, SNIs, paths, methods, X-Wikimedia-Debug values, adversarial ones
// included); each disagreement is printed with its request.
func TestGatewayDifferential(t *testing.T) {
	noteFailure(t)
	gw, ok := replica.Gateway()
	if !ok {
		t.Fatal("the replica runs no generated ingress gateway")
	}
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(runCtx, 5*time.Minute)
	defer cancel()
	rep, err := differential.Run(ctx, differential.Options{
		Model: gw.Model, Contract: c, Addr: gw.Addr, Roots: gw.Roots, JoinedHeaders: gw.JoinedHeaders,
		Seed: differentialSeed, Deployment: differential.PodDeployment(gw.Model),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests compared (%d contract cases, %d of %d generated), %d excluded; routes taken %d of %d",
		rep.Compared, rep.Compared-rep.GeneratedCompared, rep.GeneratedCompared, rep.Generated, rep.ExcludedCount(), rep.Routes-len(rep.Untaken), rep.Routes)
	if rep.GeneratedCompared < 300 {
		t.Errorf("only %d generated requests compared, want at least 300", rep.GeneratedCompared)
	}
	if len(rep.Untaken) > 0 {
		t.Errorf("routes no compared request took: %v", rep.Untaken)
	}
	for i, d := range rep.Disagreements {
		if i == 20 {
			t.Errorf("... and %d more disagreements", len(rep.Disagreements)-20)
			break
		}
		t.Error(d)
	}
}

// TestExistingCluster: `up --kubeconfig --ingress objects` puts the replica
// on a cluster it did not create (a second kind cluster standing in for an
// existing one, its ports published 1000 higher), refusing to take over an
// object it did not create; the contract passes there, its ingress entry
// points served by the Ingress objects; and down removes exactly what up
// created: the cluster stays, with its own Corefile back.
func TestExistingCluster(t *testing.T) {
	noteFailure(t)
	// The last test (source order): the replica's own cluster is done
	// with, and deleting it now leaves the 2 cores to the stand-in cluster.
	if err := releaseReplica(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(runCtx, 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfgData, err := os.ReadFile(filepath.Join(root, cluster.DefaultConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "kind-config.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(cfgData), "hostPort: 20", "hostPort: 21")), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := images.ReadManifest(orDefault(envManifest, filepath.Join(root, "_output", "images.json")))
	if err != nil {
		t.Fatal(err)
	}
	const name = "pretrain-check-existing"
	kubeconfig := filepath.Join(dir, "kubeconfig")
	provider := kindcluster.NewProvider(kindcluster.ProviderWithDocker())
	_ = provider.Delete(name, kubeconfig) // a leftover of an interrupted run
	err = cluster.Timed(ctx, logger, "e2e", "existing cluster", 5*time.Minute, func(context.Context) (string, error) {
		return name, provider.Create(name, kindcluster.CreateWithRawConfig([]byte(strings.ReplaceAll(string(cfgData), "hostPort: 20", "hostPort: 21"))),
			kindcluster.CreateWithNodeImage(m.Images[cluster.ImageNode]), kindcluster.CreateWithKubeconfigPath(kubeconfig),
			kindcluster.CreateWithWaitForReady(3*time.Minute), kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false))
	})
	t.Cleanup(func() {
		if err := provider.Delete(name, kubeconfig); err != nil {
			t.Errorf("delete the stand-in cluster %s: %v", name, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	corefile := func() string {
		cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["Corefile"]
	}
	before := corefile()
	// With the Ingress objects (Traefik) serving the ingress entry points:
	// the path for users who route with ingress-nginx runs here, and down
	// has cluster-scoped RBAC and IngressClasses to remove too.
	opts := []cluster.Option{
		cluster.WithName(name), cluster.WithConfigFile(cfgPath), cluster.WithFixtures(filepath.Join(root, cluster.DefaultFixtures)),
		cluster.WithImages(m.Images), cluster.WithKubeconfig(kubeconfig), cluster.WithIngress(cluster.IngressObjects),
		cluster.WithLogger(logger), cluster.WithReportDir(filepath.Join(reportDir(), "existing")),
	}

	// A Namespace of the replica's that someone else made: up refuses it.
	theirs := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mw-debug"}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Up(ctx, opts...); err == nil || !strings.Contains(err.Error(), "Namespace/mw-debug") {
		t.Fatalf("up took over a Namespace it did not create: %v", err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "mw-debug", metav1.GetOptions{}); err != nil {
		t.Fatalf("the refused up touched the Namespace it refused: %v", err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "mw-debug", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "mw-debug", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := cluster.Up(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	var res childRun
	err = cluster.Timed(ctx, logger, "e2e", "suites", 10*time.Minute, func(ctx context.Context) (string, error) {
		var err error
		res, err = runChildEnv(ctx, filepath.Join(reportDir(), "existing", "suites"), 0,
			[]string{envChildKubeconfig + "=" + kubeconfig, envChildKindConfig + "=" + cfgPath}, "-ginkgo.label-filter=!latency")
		return "existing cluster: " + res.summary, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.failed) > 0 || res.unsure > 0 || res.exitErr != nil {
		t.Errorf("the suites on the existing cluster: %s; failed %q\n%s", res.summary, res.failed, tail(res.output, 40))
	}
	if err := cluster.Down(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"mw-pretrain", "pretrain-infra", "mw-debug", "ingress-nginx"} {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("down left Namespace %s (%v)", ns, err)
		}
	}
	if _, err := cs.RbacV1().ClusterRoles().Get(ctx, "pretrain-ingress-controller", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("down left ClusterRole pretrain-ingress-controller (%v)", err)
	}
	if _, err := cs.NetworkingV1().IngressClasses().Get(ctx, "nginx", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("down left IngressClass nginx (%v)", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "pretrain-check-replica", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("down left its stamp (%v)", err)
	}
	if after := corefile(); after != before {
		t.Errorf("down did not put CoreDNS's Corefile back:\n%s\nwant:\n%s", after, before)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil {
		t.Errorf("the existing cluster is not there after down: %v", err)
	}
}
