// Package cluster brings up, checks, diagnoses and tears down the kind
// replica of Pretrain's routing: a single-node kind cluster running the
// MediaWiki stubs, the ingress controllers (Traefik's ingress-nginx provider,
// or ingress-nginx itself in the upstream profile), the edge (ATS), the REST
// gateway and a mesh client (HAProxy), all from fixtures/kind.
//
// Up runs an ordered list of named steps, each timed and reported as one
// line on the logger:
//
//	[up] create     22.1s
//	[up] load       18.4s  (5 images, 2 already on the node)
//	[up] apply       1.2s  (63 objects)
//	[up] ready       6.0s  (16 deployments)
//	[up] converge    1.1s  (9 probes, 3 in a row each)
//
// A failure or cancellation at any step prints the failing step, collects
// diagnostics (events, pod statuses, the last log lines of the controllers,
// edge, gateways and stubs) to the logger and the report directory, and
// deletes the cluster unless the keep option is set.
//
// The cluster lifecycle uses the kind library (sigs.k8s.io/kind/pkg/cluster);
// images are loaded as `kind load docker-image` does (`docker save` into the
// node's containerd); manifests are applied with server-side apply through
// e2e-framework's klient; readiness is waited on with its wait/conditions.
package cluster
