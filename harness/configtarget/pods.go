package configtarget

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
)

// pod is one running stub standing in for one replica of a Deployment.
type pod struct {
	name string // the Kubernetes pod name: the Server header
	addr string // 127.0.0.1:port
}

// podNames names n replicas of a Deployment as Kubernetes does,
// "<deployment>-<replicaset hash>-<suffix>": production's Deployments are
// "<namespace>.<dc>.<release>", so the names read like production's Server
// header. The hashes are derived from the name, stable from run to run.
func podNames(deployment string, n int) []string {
	sum := sha256.Sum256([]byte(deployment))
	rs := hex.EncodeToString(sum[:])[:10]
	names := make([]string, n)
	for i := range names {
		s := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", deployment, i)))
		names[i] = fmt.Sprintf("%s-%s-%s", deployment, rs, hex.EncodeToString(s[:])[:5])
	}
	return names
}

// podIdentity is what a stub says it is. The Deployment's name carries
// namespace, dc and release when it follows production's convention;
// otherwise the object's namespace and its release label do.
func podIdentity(name, namespace, release string) identity.Identity {
	id, ok := identity.FromServer(name)
	if !ok {
		id = identity.Identity{Namespace: namespace, Release: release, Pod: name}
	}
	id.Role = stub.RoleWeb
	if strings.HasPrefix(id.Release, "jobrunner") {
		// The jobrunner releases run RunSingleJob.php behind their
		// Apache, which answers 404 for every other path.
		id.Role = stub.RoleJobrunner
	}
	id.Source = ""
	return id
}

// podGroup runs every stub and stops them together.
type podGroup struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

func (p *podGroup) start(ctx context.Context, id identity.Identity, log *slog.Logger) (pod, error) {
	srv, err := stub.Listen(stub.Options{Listen: "127.0.0.1:0", Config: stub.Config{Identity: id}}, log)
	if err != nil {
		return pod{}, fmt.Errorf("start pod %q: %w", id.Pod, err)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := srv.Serve(ctx); err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, fmt.Errorf("pod %q: %w", id.Pod, err))
			p.mu.Unlock()
		}
	}()
	return pod{name: id.Pod, addr: srv.Addr().String()}, nil
}

// stop ends every pod and waits for it.
func (p *podGroup) stop() error {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}
