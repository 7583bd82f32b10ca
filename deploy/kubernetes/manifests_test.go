package kubernetes

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/models/openai"
	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/metrics"
	"github.com/edgerag/edgerag/sync/lease"
	"github.com/edgerag/edgerag/sync/objstore"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// strict decodes YAML the way the API server does with
// fieldValidation=Strict: field names match case-sensitively (encoding/json
// would take readOnlyRootFileSystem for readOnlyRootFilesystem), and an
// unknown or duplicate field is an error.
func strict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	serr, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(serr...)
}

// objects is every object of the manifests, strictly decoded.
type objects struct {
	configMaps map[string]*corev1.ConfigMap
	services   []*corev1.Service
	sets       []*appsv1.StatefulSet
	pdbs       []*policyv1.PodDisruptionBudget
	hpas       []*autoscalingv2.HorizontalPodAutoscaler
}

// load decodes every document of every YAML file here into its Kubernetes
// API type, refusing unknown fields (a misspelt or misplaced key is an
// error, not a silently ignored setting) and kinds the test does not know.
func load(t *testing.T) objects {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests here: %v", err)
	}
	o := objects{configMaps: map[string]*corev1.ConfigMap{}}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			var obj any
			switch tm.APIVersion + "/" + tm.Kind {
			case "v1/ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1/Service":
				obj = &corev1.Service{}
			case "apps/v1/StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "policy/v1/PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "autoscaling/v2/HorizontalPodAutoscaler":
				obj = &autoscalingv2.HorizontalPodAutoscaler{}
			default:
				t.Fatalf("%s document %d: kind %s/%s: add it to this test", file, i, tm.APIVersion, tm.Kind)
			}
			if err := strict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", file, i, tm.Kind, err)
			}
			switch v := obj.(type) {
			case *corev1.ConfigMap:
				o.configMaps[v.Name] = v
			case *corev1.Service:
				o.services = append(o.services, v)
			case *appsv1.StatefulSet:
				o.sets = append(o.sets, v)
			case *policyv1.PodDisruptionBudget:
				o.pdbs = append(o.pdbs, v)
			case *autoscalingv2.HorizontalPodAutoscaler:
				o.hpas = append(o.hpas, v)
			}
		}
	}
	if len(o.sets) != 1 {
		t.Fatalf("%d StatefulSets, want the one of the central replicas", len(o.sets))
	}
	return o
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestManifestsDecodeStrictly: every document is a known Kubernetes object
// without an unknown field.
func TestManifestsDecodeStrictly(t *testing.T) {
	o := load(t)
	if len(o.services) < 2 || len(o.pdbs) != 1 || len(o.hpas) != 1 {
		t.Fatalf("want Services for QUIC and HTTP, a PodDisruptionBudget and an autoscaler; have %d, %d, %d", len(o.services), len(o.pdbs), len(o.hpas))
	}
}

// TestContainersBounded: every container asks for and is capped in CPU and
// memory, so the scheduler can place it and a leak cannot take the node.
func TestContainersBounded(t *testing.T) {
	ss := load(t).sets[0]
	spec := ss.Spec.Template.Spec
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := c.Resources.Requests[r]
			lim, okLim := c.Resources.Limits[r]
			if !okReq || !okLim {
				t.Errorf("container %s: %s needs both a request and a limit", c.Name, r)
				continue
			}
			if req.Cmp(lim) > 0 {
				t.Errorf("container %s: %s request %s above its limit %s", c.Name, r, req.String(), lim.String())
			}
		}
	}
}

// central returns the StatefulSet's central container.
func central(t *testing.T, ss *appsv1.StatefulSet) corev1.Container {
	t.Helper()
	for _, c := range ss.Spec.Template.Spec.Containers {
		if len(c.Args) > 0 && c.Args[0] == "central" {
			return c
		}
	}
	t.Fatal("no container runs 'edgerag central'")
	return corev1.Container{}
}

// TestProbesAndServices: readiness is /readyz and liveness /healthz on the
// HTTP port; the Services reach QUIC over UDP and HTTP over TCP on the
// pods the StatefulSet makes, and one of them is its headless governor.
func TestProbesAndServices(t *testing.T) {
	o := load(t)
	ss := o.sets[0]
	c := central(t, ss)
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}
	if ports["http"].Protocol != corev1.ProtocolTCP || ports["quic"].Protocol != corev1.ProtocolUDP {
		t.Fatalf("container ports %+v: want http over TCP and quic over UDP", c.Ports)
	}
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP probe", p.what)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != "http" {
			t.Errorf("%s probe asks %s on port %s, want %s on http", p.what, g.Path, g.Port.String(), p.path)
		}
		// The API serves TLS (--http-tls-cert); a plain probe would fail.
		if g.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("%s probe scheme %q, want HTTPS", p.what, g.Scheme)
		}
	}
	pod := labels.Set(ss.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(ss.Spec.Selector)
	if err != nil || !sel.Matches(pod) {
		t.Fatalf("StatefulSet selector %v does not select its own pods %v (%v)", ss.Spec.Selector, pod, err)
	}
	var udp, tcp, governor bool
	for _, s := range o.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(pod) || len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s selects %v, not the central pods %v", s.Name, s.Spec.Selector, pod)
		}
		for _, p := range s.Spec.Ports {
			want, ok := ports[p.TargetPort.String()]
			if !ok || want.Protocol != p.Protocol {
				t.Errorf("Service %s port %s: target %s/%s is no container port", s.Name, p.Name, p.TargetPort.String(), p.Protocol)
			}
			udp = udp || p.Protocol == corev1.ProtocolUDP
			tcp = tcp || p.Protocol == corev1.ProtocolTCP
		}
		if s.Name == ss.Spec.ServiceName {
			governor = s.Spec.ClusterIP == corev1.ClusterIPNone && !s.Spec.PublishNotReadyAddresses
		}
	}
	if !udp || !tcp {
		t.Error("want a Service for QUIC (UDP) and one for HTTP (TCP)")
	}
	if !governor {
		t.Errorf("serviceName %q: want a headless Service listing only ready replicas (the DNS name edges use as --central)", ss.Spec.ServiceName)
	}
}

// TestDisruptionBudget: the budget covers the replicas and leaves one up.
func TestDisruptionBudget(t *testing.T) {
	o := load(t)
	pdb := o.pdbs[0]
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(o.sets[0].Spec.Template.Labels)) {
		t.Fatalf("PodDisruptionBudget selector %v does not select the central pods (%v)", pdb.Spec.Selector, err)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
		t.Errorf("minAvailable %v: keep at least one replica up", pdb.Spec.MinAvailable)
	}
	if r := o.sets[0].Spec.Replicas; r == nil || int(*r) <= pdb.Spec.MinAvailable.IntValue() {
		t.Errorf("%v replicas against minAvailable %d: no node could ever be drained", r, pdb.Spec.MinAvailable.IntValue())
	}
}

// TestArgsAreCentralFlags parses the container's arguments, with $(VAR)
// expanded from its environment, with the flag set 'edgerag central'
// itself uses: a flag renamed or removed in node/agent fails here. The
// store, lease and model URLs go through the parsers the daemon uses.
func TestArgsAreCentralFlags(t *testing.T) {
	o := load(t)
	c := central(t, o.sets[0])
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("envFrom %+v: only ConfigMaps (Secrets go through env, one key each)", from)
		}
		cm, ok := o.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom %s: no such ConfigMap here", from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			env[e.Name] = "10.244.0.7" // the pod's address, from the downward API
		case e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
			t.Errorf("env %s: set it in the ConfigMap, or from a Secret (or the pod's IP)", e.Name)
		default:
			env[e.Name] = "secret"
		}
	}
	var args []string
	for _, a := range c.Args[1:] {
		args = append(args, regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(a, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := env[name]
			if !ok {
				t.Errorf("argument %q: $(%s) is not in the container's environment", a, name)
			}
			return v
		}))
	}
	cfg := agent.Config{Role: "central"}
	fs := flag.NewFlagSet("central", flag.ContinueOnError)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	cfg.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("edgerag central refuses the manifest's arguments: %v", err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("arguments left over: %q", fs.Args())
	}
	for name, check := range map[string]func(string) error{
		"sync-store": func(v string) error { _, _, err := objstore.ParseURL(v); return err },
		"sync-lease": func(v string) error { _, _, err := lease.ParseURL(v); return err },
		"llm":        func(v string) error { _, err := openai.ParseURL(v); return err },
	} {
		v := fs.Lookup(name).Value.String()
		if v == "" && name == "llm" {
			continue // no big model: central answers extractively
		}
		if v == "" {
			t.Errorf("--%s not set: the replicas must share it", name)
		} else if err := check(v); err != nil {
			t.Errorf("--%s %s: %v", name, v, err)
		}
	}
	if fs.Lookup("sync-key").Value.String() == "" || fs.Lookup("tls-dir").Value.String() == "" {
		t.Error("--sync-key and --tls-dir must come from the Secrets")
	}
}

// adapterRule is the part of a prometheus-adapter rule this test reads;
// strict decoding refuses a key the adapter would not know either.
type adapterRule struct {
	SeriesQuery   string `json:"seriesQuery"`
	SeriesFilters []struct {
		Is    string `json:"is,omitempty"`
		IsNot string `json:"isNot,omitempty"`
	} `json:"seriesFilters,omitempty"`
	Resources struct {
		Overrides map[string]struct {
			Group    string `json:"group,omitempty"`
			Resource string `json:"resource"`
		} `json:"overrides,omitempty"`
		Template string `json:"template,omitempty"`
	} `json:"resources"`
	Name struct {
		Matches string `json:"matches"`
		As      string `json:"as"`
	} `json:"name"`
	MetricsQuery string `json:"metricsQuery"`
}

// exported returns the node's metric families and their types, as a
// scrape of a central replica's /metrics shows them.
func exported(t *testing.T) map[string]string {
	t.Helper()
	m := metrics.New()
	m.Observe(func() metrics.Snapshot {
		return metrics.Snapshot{Admission: []metrics.AdmissionGate{{Class: "retrieval"}}}
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	types := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	return types
}

// TestAutoscalerMetricsExist: the autoscaler scales the StatefulSet; every
// metric it names is served by a rule of the adapter config, and every
// rule reads a series the node really exports — rename a metric in
// node/metrics and this fails.
func TestAutoscalerMetricsExist(t *testing.T) {
	o := load(t)
	hpa := o.hpas[0]
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "StatefulSet" || ref.Name != o.sets[0].Name {
		t.Errorf("autoscaler targets %s %s %s, not the central StatefulSet", ref.APIVersion, ref.Kind, ref.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
		t.Error("minReplicas below 2: one replica's death would stop escalation and sync")
	}
	cm, ok := o.configMaps["adapter-config"]
	if !ok {
		t.Fatal("no prometheus-adapter config (ConfigMap adapter-config)")
	}
	var cfg struct {
		Rules []adapterRule `json:"rules"`
	}
	if err := strict([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("adapter config: %v", err)
	}
	types := exported(t)
	served := map[string]bool{}
	for _, r := range cfg.Rules {
		series, _, _ := strings.Cut(r.SeriesQuery, "{")
		typ := types[series]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(series, suffix); ok && types[base] == "histogram" {
				typ = "histogram"
			}
		}
		if typ == "" {
			t.Errorf("adapter rule %q reads %s, which the node does not export", r.Name.As, series)
		}
		if !regexp.MustCompile(r.Name.Matches).MatchString(series) {
			t.Errorf("adapter rule %q: name.matches %q does not match its series %s", r.Name.As, r.Name.Matches, series)
		}
		if !strings.Contains(r.MetricsQuery, "<<.Series>>") || !strings.Contains(r.MetricsQuery, "<<.LabelMatchers>>") {
			t.Errorf("adapter rule %q: metricsQuery must select <<.Series>>{<<.LabelMatchers>>}", r.Name.As)
		}
		if _, ok := r.Resources.Overrides["pod"]; !ok {
			t.Errorf("adapter rule %q: no pod override, so the HPA cannot read it as a Pods metric", r.Name.As)
		}
		served[r.Name.As] = true
	}
	var names []string
	for _, m := range hpa.Spec.Metrics {
		if m.Type != autoscalingv2.PodsMetricSourceType || m.Pods == nil {
			t.Errorf("autoscaler metric %+v: want Pods metrics (RAG load, not CPU)", m)
			continue
		}
		names = append(names, m.Pods.Metric.Name)
		if !served[m.Pods.Metric.Name] {
			t.Errorf("autoscaler metric %s: no adapter rule serves it", m.Pods.Metric.Name)
		}
	}
	if len(names) < 2 {
		t.Errorf("autoscaler scales on %v: want the escalation queue and retrieval latency", names)
	}
}

// TestDocsNameTheSecrets: every Secret the manifests need is one
// docs/kubernetes.md tells the operator to create.
func TestDocsNameTheSecrets(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	spec := load(t).sets[0].Spec.Template.Spec
	var secrets []string
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secrets = append(secrets, v.Secret.SecretName)
		}
	}
	for _, c := range spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				secrets = append(secrets, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	for _, s := range secrets {
		if !bytes.Contains(doc, []byte(fmt.Sprintf("secret generic %s ", s))) && !bytes.Contains(doc, []byte(fmt.Sprintf("secret tls %s ", s))) {
			t.Errorf("docs/kubernetes.md does not say how to create Secret %s", s)
		}
	}
}
