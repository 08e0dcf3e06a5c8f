package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Profile selects where the kind replica's images come from.
type Profile string

const (
	// ProfileAirgap uses the images Build makes locally: no registry needed.
	ProfileAirgap Profile = "airgap"
	// ProfileUpstream uses kindest/node and the real ingress-nginx controller,
	// pulled from their registries.
	ProfileUpstream Profile = "upstream"
	// ProfileAuto picks upstream when its images can be had without a pull
	// decision that could fail, airgap otherwise (see SelectProfile).
	ProfileAuto Profile = "auto"
)

// ProfileEnv is the environment variable that selects the profile.
const ProfileEnv = "PRETRAIN_PROFILE"

// UpstreamIngressManifest is the ingress-nginx v1.15.1 kind deploy manifest,
// relative to the repository root (upstream profile).
const UpstreamIngressManifest = "fixtures/upstream/ingress-nginx-v1.15.1-kind.yaml"

// ParseProfile validates a profile name ("" is auto).
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(s); p {
	case "", ProfileAuto:
		return ProfileAuto, nil
	case ProfileAirgap, ProfileUpstream:
		return p, nil
	}
	return "", fmt.Errorf("parse profile %q: expected %q, %q or %q", s, ProfileAirgap, ProfileUpstream, ProfileAuto)
}

// RegistryCheck reports whether the upstream images can be used: typically
// whether they are already in the local engine, or whether a registry answers.
type RegistryCheck func(ctx context.Context) (bool, error)

// SelectProfile decides the profile: the flag wins, then PRETRAIN_PROFILE
// (read through lookupEnv), then auto. Auto is upstream only when check says
// the upstream images are reachable, and airgap otherwise, including when
// check is nil or fails (no registry is the safe assumption).
func SelectProfile(ctx context.Context, flag string, lookupEnv func(string) (string, bool), check RegistryCheck) (Profile, string, error) {
	source, value := "default", ""
	if flag != "" {
		source, value = "flag", flag
	} else if v, ok := lookupEnv(ProfileEnv); ok && v != "" {
		source, value = ProfileEnv, v
	}
	p, err := ParseProfile(value)
	if err != nil {
		return "", "", fmt.Errorf("select profile from %s: %w", source, err)
	}
	if p != ProfileAuto {
		return p, source, nil
	}
	if check == nil {
		return ProfileAirgap, "auto: no registry check", nil
	}
	ok, err := check(ctx)
	switch {
	case err != nil:
		return ProfileAirgap, fmt.Sprintf("auto: registry check failed: %v", err), nil
	case ok:
		return ProfileUpstream, "auto: upstream images reachable", nil
	}
	return ProfileAirgap, "auto: upstream images not reachable", nil
}

// ProfileImages are the images and manifests a profile runs.
type ProfileImages struct {
	Profile Profile
	Node    string // kind node image
	Ingress string // ingress controller image
	// IngressManifest is the upstream ingress-nginx manifest (upstream profile
	// only); the airgap profile's Traefik deployment belongs to the kind replica.
	IngressManifest string
	Edge            string // ATS (airgap only)
	Gateway         string // HAProxy as REST gateway and mesh proxy (airgap only)
	Stub            string // stub MediaWiki (always built locally)
}

// ImagesFor maps a profile to images: upstream references for upstream,
// the manifest's tags for airgap. The stub is always the local image.
func ImagesFor(p Profile, m *Manifest, repoRoot string) (ProfileImages, error) {
	out := ProfileImages{Profile: p}
	var err error
	if out.Stub, err = m.Image(ImageMWStub); err != nil {
		return out, err
	}
	switch p {
	case ProfileUpstream:
		out.Node = Pinned.UpstreamNodeImage
		out.Ingress = Pinned.UpstreamIngressNginx
		out.IngressManifest = filepath.Join(repoRoot, UpstreamIngressManifest)
		if _, err := os.Stat(out.IngressManifest); err != nil {
			return out, fmt.Errorf("map profile %q: %w", p, err)
		}
		return out, nil
	case ProfileAirgap:
		for _, f := range []struct {
			dst  *string
			name string
		}{{&out.Node, ImageNode}, {&out.Ingress, ImageTraefik}, {&out.Edge, ImageATS}, {&out.Gateway, ImageHAProxy}} {
			if *f.dst, err = m.Image(f.name); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	return out, fmt.Errorf("map profile %q: not a concrete profile", p)
}

// LocalImagesCheck is a RegistryCheck that sends no request anywhere: it
// reports whether the upstream node and ingress-nginx images are already in
// the local engine (pulled earlier, or loaded from a registry mirror).
func LocalImagesCheck(docker string) RegistryCheck {
	return func(ctx context.Context) (bool, error) {
		for _, ref := range []string{Pinned.UpstreamNodeImage, Pinned.UpstreamIngressNginx} {
			if _, err := runQuiet(ctx, "", nil, docker, "image", "inspect", "--format", "{{.Id}}", ref); err != nil {
				if exitedNonZero(err) {
					return false, nil
				}
				return false, err
			}
		}
		return true, nil
	}
}
