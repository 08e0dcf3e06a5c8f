package cluster

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/kindtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

// The ingress gateway: the replica's stand-in for production's Istio
// ingress gateway, an HAProxy whose configuration harness/haproxy generates
// from the routing input (the Gateways and VirtualServices `helm template`
// renders), behind one TLS listener on NodePort 30443 as in production.
// Its Secret holds the configuration, the serving certificate and the CA
// that signed it, so a later process (`run --target kind`) can trust it.
const (
	gatewayNamespace = "pretrain-infra"
	gatewayName      = "ingressgateway"
	gatewaySecret    = "ingressgateway-config"
	gatewayDir       = "/etc/pretrain/ingressgateway"
	gatewayPort      = 8443
	gatewayCAKey     = "ca.crt"
	// gatewayInputKey records the routing input's sources (name and
	// sha256), one per line: what the running gateway was generated from.
	gatewayInputKey = "routing-input"
	// caConfigMap holds the replica's CA (ca.crt) in each namespace of a
	// proxy that connects to the gateway or the XWD backends.
	caConfigMap = "replica-ca"
	// xwdBackendsSecret holds the certificate and key (xwd.pem) of the
	// TLS listeners the edge reaches X-Wikimedia-Debug backends on
	// (fixtures/kind/manifests/45-xwd-backends.yaml).
	xwdBackendsSecret  = "xwd-backends-tls"
	xwdBackendsCertKey = "xwd.pem"
	// gatewayEntriesKey records what serves the ingress entry points.
	gatewayEntriesKey = "ingress-entries"
	// podsPort is the stubs' container port.
	podsPort = 8080
)

var gatewayRef = deploymentRef{gatewayNamespace, gatewayName}

var caNamespaces = []string{"pretrain-infra", "mw-pretrain"}

// gatewayObjects generates the gateway's objects from the routing input:
// one Service per Deployment the routes send to (selecting the replica's
// stub pods of that name), the Secret, the gateway Deployment and its
// NodePort Service. Every problem comes back at once, with the input's
// file:line:col where there is one.
func gatewayObjects(in *routing.Input, b bundle, haproxyImage string, tlsFiles gatewayTLS) ([]object, haproxy.Config, error) {
	m, err := istio.New(in)
	if err != nil {
		return nil, haproxy.Config{}, fmt.Errorf("model the routing input: %w", err)
	}
	stubs := map[string]*unstructured.Unstructured{}
	for _, o := range b.deployments() {
		stubs[o.u.GetNamespace()+"/"+o.u.GetName()] = o.u
	}
	var objs []object
	pods := map[string][]string{}
	var missing []string
	for _, d := range in.Deployments {
		stub, ok := stubs[d.Key()]
		if !ok {
			missing = append(missing, fmt.Sprintf("%s: Deployment %s", d.Pos, d.Key()))
			continue
		}
		svc, err := podsService(d, stub)
		if err != nil {
			return nil, haproxy.Config{}, err
		}
		objs = append(objs, svc)
		addr := fmt.Sprintf("%s.%s.svc.cluster.local:%d", svc.u.GetName(), d.Namespace, podsPort)
		// One server line per replica the input declares: HAProxy's round
		// robin then gives each Deployment its pods' share (the canary's 1
		// of 3), whichever pod kube-proxy picks behind the Service.
		for range d.Replicas() {
			pods[d.Key()] = append(pods[d.Key()], addr)
		}
	}
	cfg, err := haproxy.Generate(m, haproxy.Options{
		Listen:     fmt.Sprintf(":%d", gatewayPort),
		Port:       istio.DefaultPort,
		Dir:        gatewayDir,
		CertKeyPEM: tlsFiles.certKey,
		Pods:       pods,
		// CoreDNS may start after the gateway (up does not wait for it).
		ResolveAtRuntime: true,
		Socket:           "ingressgateway",
	})
	if err != nil {
		if len(missing) > 0 {
			err = fmt.Errorf("%w\n(the kind replica runs a stub for each Deployment of fixtures/kind/manifests; it runs none for:\n  %s)", err, strings.Join(missing, "\n  "))
		}
		return nil, haproxy.Config{}, err
	}
	var sources []string
	for _, s := range in.Sources {
		sources = append(sources, fmt.Sprintf("%s sha256:%s", s.Name, s.SHA256))
	}
	data := map[string]string{
		haproxy.ConfigFile: cfg.Text,
		gatewayCAKey:       string(tlsFiles.ca),
		gatewayInputKey:    strings.Join(sources, "\n"),
		gatewayEntriesKey:  tlsFiles.entries,
	}
	for name, v := range cfg.Files {
		data[name] = string(v)
	}
	hash := hashData(data)
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: gatewayMeta(gatewaySecret, hash),
		StringData: data,
	}
	objs = append(objs, mustObject(secret, "generated: the ingress gateway's haproxy.cfg and certificate"))
	objs = append(objs, mustObject(gatewayDeployment(haproxyImage, hash), "generated: the ingress gateway"))
	objs = append(objs, mustObject(gatewayService(), "generated: the ingress gateway's NodePort"))
	return objs, cfg, nil
}

// Gateway is the replica's running ingress gateway, as the differential
// proof needs it.
type Gateway struct {
	// Model is the Istio model of the routing input it was generated from.
	Model *istio.Model
	// Addr is its TLS listener on the host (127.0.0.1:20443).
	Addr string
	// Roots trust its serving certificate.
	Roots *x509.CertPool
	// JoinedHeaders are the request headers whose lines it joins
	// (haproxy.Config.JoinedHeaders).
	JoinedHeaders []string
}

// Gateway is the ingress gateway this process brought up; false when it
// was attached to.
func (r *Replica) Gateway() (Gateway, bool) {
	if r.gateway == nil {
		return Gateway{}, false
	}
	return *r.gateway, true
}

// gatewayTLS is the gateway's certificate material: the serving
// certificate and key (PEM, as HAProxy reads them) and the CA that signed
// it; and what serves the ingress entry points (IngressGateway or
// IngressObjects), recorded for a later Attach.
type gatewayTLS struct {
	certKey, ca []byte
	entries     string
}

// newGatewayTLS is a fresh CA and a certificate for the Gateways' hosts.
func newGatewayTLS(m *istio.Model) (gatewayTLS, *tlsca.CA, error) {
	ca, err := tlsca.ForServerNames(m.ServerNames())
	if err != nil {
		return gatewayTLS{}, nil, err
	}
	certKey, err := ca.ServerPEM()
	if err != nil {
		return gatewayTLS{}, nil, err
	}
	return gatewayTLS{certKey: certKey, ca: ca.CertPEM}, ca, nil
}

// xwdBackendHosts are the names the XWD backends' certificate is issued
// for: production's edge sends the request's Host as SNI and verifies the
// name, so these are the wiki hosts, not the backends' own names.
var xwdBackendHosts = []string{
	"wikipedia.org", "*.wikipedia.org", "*.wikimedia.org", "*.wikidata.org", "*.wiktionary.org",
	"*.wikibooks.org", "*.wikinews.org", "*.wikiquote.org", "*.wikisource.org", "*.wikiversity.org",
	"*.wikivoyage.org", "*.mediawiki.org", "*.wikifunctions.org",
}

// tlsObjects are what the replica's proxies need of its CA before they
// start: the CA in the namespace of every proxy that connects to the
// gateway or the XWD backends (edge, REST gateway, mesh), and the XWD
// backends' certificate.
func tlsObjects(ca *tlsca.CA) ([]object, error) {
	var objs []object
	for _, ns := range caNamespaces {
		objs = append(objs, mustObject(&corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: caConfigMap, Namespace: ns, Labels: partOf()},
			Data:       map[string]string{gatewayCAKey: string(ca.CertPEM)},
		}, "generated: the replica's CA"))
	}
	cert, err := ca.Issue(xwdBackendHosts...)
	if err != nil {
		return nil, err
	}
	certKey, err := tlsca.CertKeyPEM(cert)
	if err != nil {
		return nil, err
	}
	objs = append(objs, mustObject(&corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: xwdBackendsSecret, Namespace: gatewayNamespace, Labels: partOf()},
		StringData: map[string]string{xwdBackendsCertKey: string(certKey)},
	}, "generated: the XWD backends' certificate"))
	return objs, nil
}

// podsService selects the replica's pods of one Deployment by the stub
// Deployment's own selector.
func podsService(d *routing.Deployment, stub *unstructured.Unstructured) (object, error) {
	sel, _, err := unstructured.NestedStringMap(stub.Object, "spec", "selector", "matchLabels")
	if err != nil || len(sel) == 0 {
		return object{}, fmt.Errorf("stub Deployment %s: no spec.selector.matchLabels to select its pods by", d.Key())
	}
	// Service names are DNS labels; Deployment names carry dots.
	name := "pods-" + strings.ReplaceAll(d.Name, ".", "-")
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(d.Name))
		name = name[:50] + "-" + hex.EncodeToString(sum[:])[:12]
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: partOf()},
		Spec: corev1.ServiceSpec{
			Selector: sel,
			Ports:    []corev1.ServicePort{{Name: "http", Port: podsPort, TargetPort: intstr.FromString("http")}},
		},
	}
	return mustObject(svc, "generated: the pods of Deployment "+d.Key()), nil
}

func partOf() map[string]string {
	return map[string]string{"app.kubernetes.io/part-of": "pretrain-check", "app": gatewayName}
}

func gatewayMeta(name, hash string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: gatewayNamespace, Labels: partOf(),
		Annotations: map[string]string{configHashAnnotation: hash}}
}

func gatewayDeployment(image, hash string) *appsv1.Deployment {
	one := int32(1)
	grace := int64(5)
	no := false
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: gatewayMeta(gatewayName, hash),
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": gatewayName}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: partOf(), Annotations: map[string]string{configHashAnnotation: hash}},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  &no,
					EnableServiceLinks:            &no,
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name:            "haproxy",
						Image:           image,
						ImagePullPolicy: corev1.PullNever,
						Command:         []string{"/usr/sbin/haproxy", "-W", "-db", "-f", gatewayDir + "/" + haproxy.ConfigFile},
						Ports:           []corev1.ContainerPort{{Name: "https", ContainerPort: gatewayPort}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("https")}},
							PeriodSeconds: 1,
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: gatewayDir, ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
						Secret: &corev1.SecretVolumeSource{SecretName: gatewaySecret}}}},
				},
			},
		},
	}
}

func gatewayService() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: gatewayName, Namespace: gatewayNamespace, Labels: partOf()},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": gatewayName},
			// 30443 inside the cluster too: the replica's DNS answers
			// mw-pretrain.discovery.wmnet (and the other names production's
			// clients dial on 30443) with this Service.
			Ports: []corev1.ServicePort{{Name: "https", Port: 30443, TargetPort: intstr.FromString("https"),
				NodePort: kindtarget.NodePortGateway}},
		},
	}
}

// mustObject turns a typed object into an applicable one; the types are
// ours, so a failure is a programming error.
func mustObject(v any, source string) object {
	js, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %s: %v", source, err))
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		panic(fmt.Sprintf("decode %s: %v", source, err))
	}
	return object{u: u, json: js, source: source}
}

func hashData(data map[string]string) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, data[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// planGateway generates the gateway's objects from the routing input
// (before anything is created: a bad input fails here, with its
// positions), adds them to the bundle and points the target's ingress
// entries at it.
func (r *Replica) planGateway() error {
	in := r.opts.routes
	if in == nil {
		var err error
		if in, err = configtarget.ExampleInput(); err != nil {
			return err
		}
	}
	m, err := istio.New(in)
	if err != nil {
		return fmt.Errorf("generate the ingress gateway: model the routing input: %w", err)
	}
	files, ca, err := newGatewayTLS(m)
	if err != nil {
		return fmt.Errorf("generate the ingress gateway: %w", err)
	}
	early, err := tlsObjects(ca)
	if err != nil {
		return fmt.Errorf("generate the replica's certificates: %w", err)
	}
	roots := ca.Pool
	files.entries = r.opts.ingress
	objs, cfg, err := gatewayObjects(in, r.bundle, r.opts.images[ImageHAProxy], files)
	if err != nil {
		return fmt.Errorf("generate the ingress gateway: %w", err)
	}
	r.gateway = &Gateway{Model: m, Addr: r.target.GatewayAddr(), Roots: roots, JoinedHeaders: cfg.JoinedHeaders}
	// The CA and certificates go right after the Namespaces: the proxies
	// that mount them are created before the gateway's own objects.
	i := 0
	for i < len(r.bundle.objects) && r.bundle.objects[i].u.GetKind() == "Namespace" {
		i++
	}
	r.bundle.objects = slices.Concat(r.bundle.objects[:i], early, r.bundle.objects[i:], objs)
	if !slices.Contains(r.bundle.images, ImageHAProxy) {
		r.bundle.images = append(r.bundle.images, ImageHAProxy)
	}
	if r.opts.ingress == IngressGateway {
		r.target.UseGateway(roots)
	}
	return nil
}

// gatewayConfigFor generates the running gateway's config (its Secret's
// data) from another routing input, keeping its certificate and CA (so
// the proxies that trust it need no restart; the certificate's names stay
// those of the input the replica was brought up with). The input may
// change the routes only: a change of the Services the gateway sends to
// is an error, since a fault's variant runs only the gateway.
func (r *Replica) gatewayConfigFor(ctx context.Context, in, running *routing.Input) (map[string]string, error) {
	s, err := r.clientset.CoreV1().Secrets(gatewayNamespace).Get(ctx, gatewaySecret, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the running gateway's certificate (%s/%s): %w", gatewayNamespace, gatewaySecret, err)
	}
	files := gatewayTLS{certKey: s.Data[haproxy.CertFile], ca: s.Data[gatewayCAKey], entries: string(s.Data[gatewayEntriesKey])}
	objs, _, err := gatewayObjects(in, r.bundle, r.opts.images[ImageHAProxy], files)
	if err != nil {
		return nil, fmt.Errorf("generate the ingress gateway: %w", err)
	}
	was, _, err := gatewayObjects(running, r.bundle, r.opts.images[ImageHAProxy], files)
	if err != nil {
		return nil, fmt.Errorf("generate the running ingress gateway: %w", err)
	}
	services := func(objs []object) map[string]string {
		m := map[string]string{}
		for _, o := range objs {
			if o.u.GetKind() == "Service" {
				m[o.u.GetNamespace()+"/"+o.u.GetName()] = string(o.json)
			}
		}
		return m
	}
	if !maps.Equal(services(objs), services(was)) {
		return nil, errors.New("the input changes the Services the gateway sends to, not only its routes")
	}
	for _, o := range objs {
		if o.u.GetKind() == "Secret" && o.u.GetName() == gatewaySecret {
			data, _, err := unstructured.NestedStringMap(o.u.Object, "stringData")
			if err != nil {
				return nil, fmt.Errorf("the generated gateway Secret: %w", err)
			}
			return data, nil
		}
	}
	return nil, fmt.Errorf("the generated gateway has no Secret %s", gatewaySecret)
}

// gatewayRoots reads the CA of the running gateway; ok is false when the
// ingress entry points are not its (--ingress objects, or a replica from
// before the gateway).
func (r *Replica) gatewayRoots(ctx context.Context) (*x509.CertPool, bool, error) {
	s, err := r.clientset.CoreV1().Secrets(gatewayNamespace).Get(ctx, gatewaySecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err == nil && string(s.Data[gatewayEntriesKey]) == IngressObjects {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the ingress gateway's CA (%s/%s): %w", gatewayNamespace, gatewaySecret, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data[gatewayCAKey]) {
		return nil, false, errors.New("read the ingress gateway's CA: " + gatewayNamespace + "/" + gatewaySecret + " holds no PEM certificate under " + gatewayCAKey)
	}
	return pool, true, nil
}
