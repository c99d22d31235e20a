package deploy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/storage/memory"
)

// The parts of Kubernetes objects the tests look at.
type (
	object struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec       spec              `yaml:"spec"`
		StringData map[string]string `yaml:"stringData"`
		Resources  []string          `yaml:"resources"`
	}
	spec struct {
		Replicas       int            `yaml:"replicas"`
		Selector       map[string]any `yaml:"selector"`
		Template       podTemplate    `yaml:"template"`
		Type           string         `yaml:"type"`
		Ports          []servicePort  `yaml:"ports"`
		MaxUnavailable *int           `yaml:"maxUnavailable"`
		MinAvailable   *int           `yaml:"minAvailable"`
		PodSelector    map[string]any `yaml:"podSelector"`
		PolicyTypes    []string       `yaml:"policyTypes"`
		Ingress        []ingressRule  `yaml:"ingress"`
	}
	podTemplate struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	}
	podSpec struct {
		SecurityContext struct {
			RunAsNonRoot *bool `yaml:"runAsNonRoot"`
			RunAsUser    *int  `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
		Containers                    []container `yaml:"containers"`
		Volumes                       []struct {
			Name   string `yaml:"name"`
			Secret *struct {
				SecretName string       `yaml:"secretName"`
				Items      []secretItem `yaml:"items"`
			} `yaml:"secret"`
		} `yaml:"volumes"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		Env []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		} `yaml:"securityContext"`
		StartupProbe   *probe `yaml:"startupProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
	}
	secretItem struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	}
	servicePort struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort any    `yaml:"targetPort"`
	}
	ingressRule struct {
		From  []map[string]any `yaml:"from"`
		Ports []struct {
			Port any `yaml:"port"`
		} `yaml:"ports"`
	}
)

// manifests reads every object in deploy/kubernetes, by kind.
func manifests(t testing.TB) map[string][]object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	out := map[string][]object{}
	for _, f := range files {
		for _, o := range decodeAll[object](t, f) {
			if o.Kind == "" {
				t.Errorf("%s: a document without kind", f)
			}
			out[o.Kind] = append(out[o.Kind], o)
		}
	}
	return out
}

func one(t testing.TB, objs map[string][]object, kind string) object {
	t.Helper()
	if len(objs[kind]) != 1 {
		t.Fatalf("deploy/kubernetes has %d objects of kind %s, want 1", len(objs[kind]), kind)
	}
	return objs[kind][0]
}

func envMap(c container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// selects reports whether the label selector sel (a Service's plain map,
// or one with matchLabels) is not empty and selects labels.
func selects(sel map[string]any, labels map[string]string) bool {
	if ml, ok := sel["matchLabels"].(map[string]any); ok {
		sel = ml
	}
	for k, v := range sel {
		if s, ok := v.(string); !ok || labels[k] != s {
			return false
		}
	}
	return len(sel) > 0
}

// TestKubernetes checks the invariants of deploy/kubernetes: what idvauth
// reads (env names, ports, secret files, health paths) and what keeps it
// safe (non-root, read-only, admin port off the Service and behind the
// NetworkPolicy).
func TestKubernetes(t *testing.T) {
	s := readSettings(t)
	objs := manifests(t)
	dep := one(t, objs, "Deployment")
	pod := dep.Spec.Template
	if dep.Spec.Replicas != 3 {
		t.Errorf("Deployment replicas = %d, want 3", dep.Spec.Replicas)
	}
	if !selects(dep.Spec.Selector, pod.Metadata.Labels) {
		t.Errorf("Deployment selector %v does not select its pods %v", dep.Spec.Selector, pod.Metadata.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("Deployment has %d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	env := envMap(c)
	checkEnv(t, "Deployment", s, env, "GOMEMLIMIT")
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("Deployment args = %v, want [serve]", c.Args)
	}

	// Ports: the container's, the listeners' settings and the defaults agree.
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, l := range []struct{ portName, env string }{{"http", "IDVAUTH_PUBLIC_ADDR"}, {"admin", "IDVAUTH_ADMIN_ADDR"}} {
		def := s.defaults[l.env]
		if def == "" {
			t.Fatalf("no default for %s in cmd/idvauth", l.env)
		}
		addr := env[l.env]
		if addr == "" {
			t.Errorf("Deployment does not set %s (its default %s is loopback: unreachable from the Service)", l.env, def)
			continue
		}
		if port(t, addr) != ports[l.portName] || port(t, addr) != port(t, def) {
			t.Errorf("%s = %s, container port %q = %d, default %s: want one port", l.env, addr, l.portName, ports[l.portName], def)
		}
	}
	if ports["http"] == ports["admin"] {
		t.Error("public and admin ports are the same")
	}

	// Probes: on the public port, at the paths the server answers.
	probes := map[string]*probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
	wantPath := map[string]string{"startup": "/health/ready", "readiness": "/health/ready", "liveness": "/health/live"}
	var paths []string
	for name, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("Deployment has no httpGet %s probe", name)
			continue
		}
		if p.HTTPGet.Path != wantPath[name] {
			t.Errorf("%s probe path = %s, want %s", name, p.HTTPGet.Path, wantPath[name])
		}
		if p.HTTPGet.Port != "http" && p.HTTPGet.Port != ports["http"] {
			t.Errorf("%s probe port = %v, want the public port", name, p.HTTPGet.Port)
		}
		paths = append(paths, p.HTTPGet.Path)
	}
	checkPublicPaths(t, paths)

	// Safety of the pod.
	sc := c.SecurityContext
	if pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot ||
		sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("Deployment: runAsNonRoot must be true")
	}
	if u := pod.Spec.SecurityContext.RunAsUser; u == nil || *u == 0 {
		t.Error("Deployment: runAsUser must be a non-root uid (the image's 65532)")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("Deployment: readOnlyRootFilesystem must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("Deployment: allowPrivilegeEscalation must be false")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Error("Deployment: resource requests for cpu and memory are required")
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= authz.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds must exceed serve's shutdown timeout %v", authz.ShutdownTimeout)
	}

	secret := one(t, objs, "Secret")
	checkSecretFiles(t, "Deployment", pod.Spec, c, secret)

	// Service: selects the pods, exposes the public port and nothing else.
	svc := one(t, objs, "Service")
	if !selects(svc.Spec.Selector, pod.Metadata.Labels) {
		t.Errorf("Service selector %v does not select the pods", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Errorf("Service has %d ports, want the public one only", len(svc.Spec.Ports))
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort != "http" && p.TargetPort != ports["http"] {
			t.Errorf("Service port %s targets %v, want the public port (http)", p.Name, p.TargetPort)
		}
		if p.TargetPort == "admin" || p.TargetPort == ports["admin"] || p.Port == ports["admin"] {
			t.Errorf("Service exposes the admin port: %+v", p)
		}
	}

	pdb := one(t, objs, "PodDisruptionBudget")
	if !selects(pdb.Spec.Selector, pod.Metadata.Labels) {
		t.Error("PodDisruptionBudget does not select the pods")
	}
	switch {
	case pdb.Spec.MaxUnavailable != nil && (*pdb.Spec.MaxUnavailable < 1 || *pdb.Spec.MaxUnavailable >= dep.Spec.Replicas):
		t.Errorf("PodDisruptionBudget maxUnavailable = %d, want 1 to %d", *pdb.Spec.MaxUnavailable, dep.Spec.Replicas-1)
	case pdb.Spec.MinAvailable != nil && (*pdb.Spec.MinAvailable < 1 || *pdb.Spec.MinAvailable >= dep.Spec.Replicas):
		t.Errorf("PodDisruptionBudget minAvailable = %d, want 1 to %d", *pdb.Spec.MinAvailable, dep.Spec.Replicas-1)
	case pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil:
		t.Error("PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}

	checkNetworkPolicy(t, one(t, objs, "NetworkPolicy"), pod.Metadata.Labels, ports)

	job := one(t, objs, "Job")
	jc := job.Spec.Template.Spec.Containers
	if len(jc) != 1 || !slices.Equal(jc[0].Args, []string{"migrate", "up"}) {
		t.Fatalf("Job containers = %+v, want one running migrate up", jc)
	}
	checkEnv(t, "Job", s, envMap(jc[0]))
	if jc[0].Image != c.Image {
		t.Errorf("Job image %s differs from the Deployment's %s", jc[0].Image, c.Image)
	}
	if jsc := jc[0].SecurityContext; jsc.ReadOnlyRootFilesystem == nil || !*jsc.ReadOnlyRootFilesystem || jsc.RunAsNonRoot == nil || !*jsc.RunAsNonRoot {
		t.Error("Job: runAsNonRoot and readOnlyRootFilesystem must be true")
	}
	checkSecretFiles(t, "Job", job.Spec.Template.Spec, jc[0], secret)

	k := one(t, objs, "Kustomization")
	for _, f := range []string{"deployment.yaml", "service.yaml", "pdb.yaml", "networkpolicy.yaml"} {
		if !slices.Contains(k.Resources, f) {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
}

// checkSecretFiles checks that each IDVAUTH_*_FILE of c names a file of a
// mounted volume of the Secret, under a key the Secret holds.
func checkSecretFiles(t testing.TB, where string, pod podSpec, c container, secret object) {
	t.Helper()
	n := 0
	for name, path := range envMap(c) {
		if !strings.HasSuffix(name, "_FILE") {
			continue
		}
		n++
		found := false
		for _, m := range c.VolumeMounts {
			rel, ok := strings.CutPrefix(path, m.MountPath+"/")
			if !ok {
				continue
			}
			for _, v := range pod.Volumes {
				if v.Name != m.Name || v.Secret == nil || v.Secret.SecretName != secret.Metadata.Name {
					continue
				}
				// A volume with items mounts only those, each at its path.
				key := rel
				if len(v.Secret.Items) > 0 {
					i := slices.IndexFunc(v.Secret.Items, func(it secretItem) bool { return it.Path == rel })
					if i < 0 {
						continue
					}
					key = v.Secret.Items[i].Key
				}
				if _, ok := secret.StringData[key]; ok {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: %s=%s is not a key of Secret %s mounted there", where, name, path, secret.Metadata.Name)
		}
	}
	if n == 0 {
		t.Errorf("%s reads no secret from a file", where)
	}
}

// checkNetworkPolicy checks that the policy selects the pods, that every
// rule names its ports, and that the admin port is open only to selected
// peers.
func checkNetworkPolicy(t testing.TB, np object, labels map[string]string, ports map[string]int) {
	t.Helper()
	if !selects(np.Spec.PodSelector, labels) {
		t.Error("NetworkPolicy does not select the pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, "Ingress") {
		t.Error("NetworkPolicy does not restrict Ingress")
	}
	publicOpen := false
	for i, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("NetworkPolicy ingress rule %d names no ports: it opens the admin port too", i)
		}
		for _, p := range r.Ports {
			switch p.Port {
			case ports["admin"], "admin":
				if len(r.From) == 0 {
					t.Errorf("NetworkPolicy ingress rule %d opens the admin port to everyone", i)
				}
				for _, f := range r.From {
					if _, ok := f["ipBlock"]; ok {
						t.Errorf("NetworkPolicy ingress rule %d opens the admin port to an address range; name pods", i)
					}
				}
			case ports["http"], "http":
				publicOpen = true
			}
		}
	}
	if !publicOpen {
		t.Error("NetworkPolicy does not let anything reach the public port")
	}
}

// checkPublicPaths starts a server and checks that each path answers 200
// on its public listener.
func checkPublicPaths(t testing.TB, paths []string) {
	t.Helper()
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := authz.New(ctx, authz.Config{Store: memory.New(), Secrets: []string{strings.Repeat("s", 40)},
		AdminToken: strings.Repeat("a", 40), Issuer: "http://" + pub.Addr().String(), Logger: zaptest.NewLogger(t)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, pub, adm) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	for _, p := range paths {
		resp, err := http.Get(fmt.Sprintf("http://%s%s", pub.Addr(), p))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on the public listener = %d, want 200", p, resp.StatusCode)
		}
	}
}
