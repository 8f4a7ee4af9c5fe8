// Package k8s_test proves the Kubernetes deployment of examples/k8s without
// a cluster: it renders the Helm chart with Helm's own engine, decodes every
// manifest into the real k8s.io/api types with strict field checking, keeps
// the plain manifests in sync with the chart, and runs the runner and merge
// Jobs as processes on this machine (simulate_test.go).
package k8s_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite manifests/wsbench.yaml from the chart")

const (
	chartDir      = "chart/wsbench"
	manifestsFile = "manifests/wsbench.yaml"
	// startBasePlaceholder stands for the shared start instant in the plain
	// manifests; `sed` puts the real one in before `kubectl apply`.
	startBasePlaceholder = "@START_BASE@"
)

// rendered is the chart's output decoded into Kubernetes types.
type rendered struct {
	text        string // the YAML documents in file order
	configMaps  []corev1.ConfigMap
	jobs        map[string]*batchv1.Job // by component label: runner, merge
	pods        []corev1.Pod
	pvcs        []corev1.PersistentVolumeClaim
	deployments []appsv1.Deployment
	services    []corev1.Service
}

// render renders the chart as `helm template RELEASE chart --set …` would.
func render(t *testing.T, release string, set map[string]any) (*rendered, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	vals, err := util.ToRenderValues(ch, set, common.ReleaseOptions{Name: release, Namespace: "default", IsInstall: true, Revision: 1}, nil)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	r := &rendered{jobs: map[string]*batchv1.Job{}}
	var all bytes.Buffer
	for _, name := range names {
		for _, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			fmt.Fprintf(&all, "---\n# Source: %s\n%s\n", strings.TrimPrefix(name, "wsbench/"), strings.Trim(doc, "\n"))
			if err := r.decode(doc); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
		}
	}
	r.text = all.String()
	return r, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// decode reads one manifest into its API type, refusing unknown or
// duplicate fields.
func (r *rendered) decode(doc string) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
		return err
	}
	strict := func(v any) error { return yaml.UnmarshalStrict([]byte(doc), v) }
	switch head.APIVersion + " " + head.Kind {
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		if err := strict(&o); err != nil {
			return err
		}
		r.configMaps = append(r.configMaps, o)
	case "batch/v1 Job":
		var o batchv1.Job
		if err := strict(&o); err != nil {
			return err
		}
		r.jobs[o.Labels["app.kubernetes.io/component"]] = &o
	case "v1 Pod":
		var o corev1.Pod
		if err := strict(&o); err != nil {
			return err
		}
		r.pods = append(r.pods, o)
	case "v1 PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		if err := strict(&o); err != nil {
			return err
		}
		r.pvcs = append(r.pvcs, o)
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		if err := strict(&o); err != nil {
			return err
		}
		r.deployments = append(r.deployments, o)
	case "v1 Service":
		var o corev1.Service
		if err := strict(&o); err != nil {
			return err
		}
		r.services = append(r.services, o)
	default:
		return fmt.Errorf("unexpected kind %s %s", head.APIVersion, head.Kind)
	}
	return nil
}

func envValue(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func mountOf(c corev1.Container, name string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

func claimOf(spec corev1.PodSpec, volume string) string {
	for _, v := range spec.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

func TestChartRendersJobs(t *testing.T) {
	r, err := render(t, "load", map[string]any{"runners": 6, "vus": 30000, "startBase": "2026-12-06T18:40:00Z", "startDelay": "45s"})
	if err != nil {
		t.Fatal(err)
	}
	run, merge := r.jobs["runner"], r.jobs["merge"]
	if run == nil || merge == nil {
		t.Fatalf("jobs %v: want runner and merge", r.jobs)
	}
	if run.Spec.CompletionMode == nil || *run.Spec.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("runner Job completionMode %v, want Indexed", run.Spec.CompletionMode)
	}
	if *run.Spec.Completions != 6 || *run.Spec.Parallelism != 6 {
		t.Errorf("completions %d parallelism %d, want 6 and 6", *run.Spec.Completions, *run.Spec.Parallelism)
	}
	c := run.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"run", "/scenario/scenario.yaml", "--segment=auto", "--start-at=+45s", "--defer-thresholds", "--log-every=1s", "--run-id=$(WSBENCH_RUN)", "--vus=30000", "--target=ws://load-serve:8080", "--out=/results/segment-$(WSBENCH_INDEX).json"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("runner args %q lack %q", c.Args, want)
		}
	}
	if e, _ := envValue(c, "WSBENCH_SEGMENTS"); e.Value != "6" {
		t.Errorf("WSBENCH_SEGMENTS = %q, want 6", e.Value)
	}
	if e, _ := envValue(c, "WSBENCH_START_BASE"); e.Value != "2026-12-06T18:40:00Z" {
		t.Errorf("WSBENCH_START_BASE = %q", e.Value)
	}
	if e, _ := envValue(c, "WSBENCH_INDEX"); e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("WSBENCH_INDEX = %+v, want the completion index annotation", e)
	}
	if e, _ := envValue(c, "WSBENCH_HOST"); e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("WSBENCH_HOST = %+v, want the node name", e)
	}
	// 30000 VUs over 6 pods: 5000 each × 20 KiB = 97.7 MiB → 98 + 64 MiB.
	if m := c.Resources.Requests.Memory().String(); m != "162Mi" {
		t.Errorf("memory request %s, want 162Mi", m)
	}
	if m := c.Resources.Limits.Memory().String(); m != "324Mi" {
		t.Errorf("memory limit %s, want 324Mi", m)
	}

	// The merge reads the volume the runners write, in the same run folder.
	mc := merge.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"report", "--wait=6", "/results/segment-*.json", "--out=/results/merged.json", "--html=/results/report.html"} {
		if !slices.Contains(mc.Args, want) {
			t.Errorf("merge args %q lack %q", mc.Args, want)
		}
	}
	rm, _ := mountOf(c, "results")
	mm, _ := mountOf(mc, "results")
	if rm.MountPath != "/results" || rm.SubPathExpr != "$(WSBENCH_RUN)" || !reflect.DeepEqual(mm, rm) {
		t.Errorf("runner mounts %+v, merge mounts %+v: want the same run folder at /results", rm, mm)
	}
	re, _ := envValue(c, "WSBENCH_RUN")
	me, _ := envValue(mc, "WSBENCH_RUN")
	if re.Value == "" || re.Value != me.Value || strings.Contains(re.Value, ":") {
		t.Errorf("run folder runner %q, merge %q", re.Value, me.Value)
	}
	if a, b := claimOf(run.Spec.Template.Spec, "results"), claimOf(merge.Spec.Template.Spec, "results"); a == "" || a != b || len(r.pvcs) != 1 || r.pvcs[0].Name != a {
		t.Errorf("claims: runner %q merge %q, pvcs %d", a, b, len(r.pvcs))
	}
	if *run.Spec.BackoffLimit != 0 || *merge.Spec.BackoffLimit != 0 {
		t.Error("a retried runner would miss the start instant and a retried merge would hide its verdict: want backoffLimit 0")
	}
	if len(r.configMaps) != 1 || !strings.Contains(r.configMaps[0].Data["scenario.yaml"], "latency_from: ts") {
		t.Errorf("scenario ConfigMap: %+v", r.configMaps)
	}
}

func TestChartSourceSpreading(t *testing.T) {
	// 200,000 VUs on 2 runners: 100,000 connections each need 2 addresses.
	_, err := render(t, "big", map[string]any{"runners": 2, "vus": 200000})
	if err == nil || !strings.Contains(err.Error(), "raise runners to at least 4, or set source to 2 or more addresses") {
		t.Fatalf("render: %v, want a refusal that says what to do", err)
	}
	r, err := render(t, "big", map[string]any{"runners": 2, "vus": 200000, "source": "10.20.0.0/30"})
	if err != nil {
		t.Fatal(err)
	}
	if args := r.jobs["runner"].Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--source=10.20.0.0/30") {
		t.Errorf("runner args %q lack --source", args)
	}
	r, err = render(t, "small", map[string]any{"runners": 4, "vus": 200000})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range r.jobs["runner"].Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--source") {
			t.Errorf("50,000 connections per runner fit one address, yet %s", a)
		}
	}
	if _, err := render(t, "x", map[string]any{"serve": map[string]any{"enabled": false}}); err == nil || !strings.Contains(err.Error(), "set target") {
		t.Errorf("no target: %v", err)
	}
}

// TestManifestsInSync keeps manifests/wsbench.yaml equal to the chart
// rendered with its defaults (go test -run TestManifestsInSync -update).
func TestManifestsInSync(t *testing.T) {
	r, err := render(t, "wsbench", map[string]any{"startBase": startBasePlaceholder})
	if err != nil {
		t.Fatal(err)
	}
	header := "# Plain manifests of the wsbench chart (examples/k8s/chart/wsbench with its\n" +
		"# default values, release name \"wsbench\"), rendered by\n" +
		"# `go test ./examples/k8s -run TestManifestsInSync -update`; do not edit.\n" +
		"# Put the shared start instant in before applying:\n" +
		"#   sed \"s/" + startBasePlaceholder + "/$(date -u +%Y-%m-%dT%H:%M:%SZ)/\" examples/k8s/manifests/wsbench.yaml | kubectl apply -f -\n"
	got := []byte(header + r.text)
	if *update {
		if err := os.WriteFile(manifestsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(manifestsFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with the chart: run go test ./examples/k8s -run TestManifestsInSync -update", manifestsFile)
	}
}
