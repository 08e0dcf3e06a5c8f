package images

// Versions pins every input of the image set that is not a file in the
// repository. Changing a field changes the content hash, hence the tag, of
// every image that depends on it.
type Versions struct {
	Kubernetes     string `json:"kubernetes"`     // k8s.io/kubernetes, also the node's /kind/version
	KubeStaging    string `json:"kubeStaging"`    // the 31 k8s.io/* staging modules
	Etcd           string `json:"etcd"`           // go.etcd.io/etcd/server/v3
	CoreDNS        string `json:"coredns"`        // github.com/coredns/coredns
	Pause          string `json:"pause"`          // tag of the sandbox image
	Traefik        string `json:"traefik"`        // github.com/traefik/traefik/v3
	Kind           string `json:"kind"`           // sigs.k8s.io/kind (CLI and base-image files)
	DebianSuite    string `json:"debianSuite"`    // debootstrap suite
	DebianVariant  string `json:"debianVariant"`  // debootstrap variant
	DebianMirror   string `json:"debianMirror"`   // default mirror; Options.DebianMirror overrides
	DebianSecurity string `json:"debianSecurity"` // security mirror written to the rootfs sources

	// Upstream profile: what users with a registry run instead.
	UpstreamNodeImage    string `json:"upstreamNodeImage"`
	UpstreamIngressNginx string `json:"upstreamIngressNginx"`
}

// Pinned is the version set the images are built from.
var Pinned = Versions{
	Kubernetes:     "v1.33.13",
	KubeStaging:    "v0.33.13",
	Etcd:           "3.5.24",
	CoreDNS:        "v1.12.0",
	Pause:          "3.10",
	Traefik:        "v3.7.12",
	Kind:           "v0.33.0",
	DebianSuite:    "bookworm",
	DebianVariant:  "minbase",
	DebianMirror:   "http://deb.debian.org/debian",
	DebianSecurity: "http://deb.debian.org/debian-security",

	UpstreamNodeImage:    "kindest/node:v1.33.13",
	UpstreamIngressNginx: "registry.k8s.io/ingress-nginx/controller:v1.15.1",
}

// Debian packages installed on top of the debootstrap base, per image, with
// the versions bookworm (main, bookworm-updates, bookworm-security) serves.
// When the mirror drops a version the build stops at that image's step with
// the apt-get command and its error; bump the pin here.
var debianPackages = map[string][]string{
	StepNode: {
		"systemd=252.39-1~deb12u2", "dbus-broker=33-1",
		"containerd=1.6.20~ds1-1+deb12u3", "runc=1.1.5+ds1-1+deb12u1",
		"containernetworking-plugins=1.1.1+ds1-3+b5",
		"iptables=1.8.9-2", "nftables=1.0.6-2+deb12u2", "conntrack=1:1.4.7-1+b2",
		"iproute2=6.1.0-3", "ethtool=1:6.1-1", "util-linux=2.38.1-5+deb12u3",
		"mount=2.38.1-5+deb12u3", "kmod=30+20221128-1", "libseccomp2=2.5.4-1+deb12u1",
		"procps=2:4.0.2-3", "ca-certificates=20250419~deb12u2", "socat=1.7.4.4-2",
		"curl=7.88.1-10+deb12u15", "jq=1.6-2.1+deb12u3", "pigz=2.6-1",
		"e2fsprogs=1.47.0-2+b2", "bash=5.2.15-2+b13",
	},
	StepKubeProxy: {
		"iptables=1.8.9-2", "conntrack=1:1.4.7-1+b2", "kmod=30+20221128-1",
	},
	StepATS: {
		"trafficserver=9.2.5+ds-0+deb12u4", "ca-certificates=20250419~deb12u2",
	},
	StepHAProxy: {
		"haproxy=2.6.12-1+deb12u4",
	},
}
