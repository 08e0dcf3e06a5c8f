// Package images builds, without any container registry, every image the
// air-gapped kind replica runs: a Debian bookworm base from debootstrap, a
// kind node image for Kubernetes v1.33 (binaries built from source through the
// Go module proxy, control-plane images preloaded), Traefik with its
// ingress-nginx provider, Apache Traffic Server, HAProxy and the MediaWiki
// stub.
//
// Build runs a plan of named steps. Each step hashes its inputs (Dockerfile
// and files under fixtures/images, pinned versions, go.mod/go.sum of the
// nested build module, the Go version, the hashes of the steps it builds on)
// and tags its images pretrain-check/<name>:<hash12>, with the hash also in
// the pretrain-check.hash label. A step whose tags exist is skipped, so a
// second run rebuilds nothing. Images are built untagged and tagged only once
// complete: a failed step never leaves a half-built image under a tag.
//
// Tags computes the same tags without building; ReadManifest reads what the
// last Build wrote (_output/images.json by default). Profiles (airgap,
// upstream) pick between these images and the upstream ones.
package images
