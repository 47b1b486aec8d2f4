package ship

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/iclone-plan/iclone-plan/internal/plan"
	"github.com/iclone-plan/iclone-plan/internal/vsphere"
)

// stage is what the tests read of one Dockerfile stage.
type stage struct {
	from       string
	runs       []string
	entrypoint []string // exec form
	user       string   // uid[:gid]
	copied     []string // destinations of COPY --from=...
}

func readDockerfile(t *testing.T) []stage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(b), " ") // continuation lines
	var stages []stage
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		if strings.EqualFold(instr, "FROM") {
			from, _, _ := strings.Cut(rest, " ")
			stages = append(stages, stage{from: from})
			continue
		}
		if len(stages) == 0 {
			continue // ARG before FROM
		}
		s := &stages[len(stages)-1]
		switch strings.ToUpper(instr) {
		case "RUN":
			s.runs = append(s.runs, rest)
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &s.entrypoint); err != nil {
				t.Fatalf("Dockerfile: ENTRYPOINT is not in exec form: %s", rest)
			}
		case "USER":
			s.user = rest
		case "COPY":
			if f := strings.Fields(rest); strings.HasPrefix(f[0], "--from=") {
				s.copied = append(s.copied, f[len(f)-1])
			}
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a final one", len(stages))
	}
	return stages
}

// The image is a static build copied onto distroless/static (or scratch),
// run as a non-root user, with iclone-plan as its entrypoint.
func TestDockerfile(t *testing.T) {
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s: want distroless/static or scratch", final.from)
	}
	if len(final.entrypoint) != 1 || path.Base(final.entrypoint[0]) != "iclone-plan" || !slices.Contains(final.copied, final.entrypoint[0]) {
		t.Errorf("ENTRYPOINT %q: want the iclone-plan binary copied from the build stage (%q)", final.entrypoint, final.copied)
	}
	if uid := dockerUID(t, final.user); uid == 0 {
		t.Errorf("USER %q: want a non-root numeric uid", final.user)
	}
	var build string
	for _, s := range stages[:len(stages)-1] {
		build += strings.Join(s.runs, "\n")
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "./cmd/iclone-plan"} {
		if !strings.Contains(build, want) {
			t.Errorf("the build stage's RUN lacks %q", want)
		}
	}
}

// dockerUID is USER's numeric uid (Kubernetes' runAsNonRoot needs one), or 0.
func dockerUID(t *testing.T, user string) int64 {
	t.Helper()
	u, _, _ := strings.Cut(user, ":")
	uid, err := strconv.ParseInt(u, 10, 64)
	if err != nil {
		return 0
	}
	return uid
}

// manifest is the part of a Kubernetes object the tests read.
type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
		JobTemplate       struct {
			Spec struct {
				Template struct {
					Spec podSpec `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
	Resources []string `yaml:"resources"` // a Kustomization's
}

type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []struct {
		Name    string   `yaml:"name"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				SecretKeyRef *struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
		HostPath *struct {
			Path string `yaml:"path"`
		} `yaml:"hostPath"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		EmptyDir any `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

const k8sDir = repoRoot + "/deploy/kubernetes"

// readManifests decodes every YAML document of deploy/kubernetes by file.
func readManifests(t *testing.T) map[string][]manifest {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	out := map[string][]manifest{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for {
			var m manifest
			if err := dec.Decode(&m); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if m.Kind == "" {
				t.Fatalf("%s: a document without a kind", f)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], m)
		}
	}
	return out
}

// cronJob is a CronJob of the manifests with what it runs taken apart.
type cronJob struct {
	file     string
	m        manifest
	pod      podSpec
	flags    map[string]string // --flag value
	planPath string
	env      map[string]string // literal values; secret refs as "secret:NAME/KEY"
}

func cronJobs(t *testing.T, all map[string][]manifest) []cronJob {
	t.Helper()
	var jobs []cronJob
	for file, ms := range all {
		for _, m := range ms {
			if m.Kind != "CronJob" {
				continue
			}
			pod := m.Spec.JobTemplate.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%s: %d containers, want 1", file, len(pod.Containers))
			}
			c := pod.Containers[0]
			j := cronJob{file: file, m: m, pod: pod, flags: map[string]string{}, env: map[string]string{}}
			args := c.Args
			if len(args) < 2 || args[0] != "apply" {
				t.Fatalf("%s: args %q: want apply ... PLAN", file, args)
			}
			j.planPath = args[len(args)-1]
			for i := 1; i < len(args)-1; i++ {
				switch a := args[i]; {
				case a == "--auto-approve":
					j.flags[a] = ""
				case strings.HasPrefix(a, "--") && strings.Contains(a, "="):
					k, v, _ := strings.Cut(a, "=")
					j.flags[k] = v
				case strings.HasPrefix(a, "--") && i+1 < len(args)-1:
					j.flags[a] = args[i+1]
					i++
				default:
					t.Fatalf("%s: cannot read argument %q", file, a)
				}
			}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					j.env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
				default:
					j.env[e.Name] = e.Value
				}
			}
			jobs = append(jobs, j)
		}
	}
	if len(jobs) == 0 {
		t.Fatal("no CronJob in deploy/kubernetes")
	}
	return jobs
}

// mountOf returns the volume mount under which file lies.
func (j cronJob) mountOf(t *testing.T, what, file string) (name string, readOnly bool) {
	t.Helper()
	for _, m := range j.pod.Containers[0].VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return m.Name, m.ReadOnly
		}
	}
	t.Errorf("%s: %s %s is on no volume (the root file system is read-only)", j.file, what, file)
	return "", true
}

func (j cronJob) volume(name string) int {
	return slices.IndexFunc(j.pod.Volumes, func(v struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
		HostPath *struct {
			Path string `yaml:"path"`
		} `yaml:"hostPath"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		EmptyDir any `yaml:"emptyDir"`
	}) bool {
		return v.Name == name
	})
}

func find(all map[string][]manifest, kind, name string) *manifest {
	for _, ms := range all {
		for i := range ms {
			if ms[i].Kind == kind && ms[i].Metadata.Name == name {
				return &ms[i]
			}
		}
	}
	return nil
}

// govcReadByCLI is the set of environment variables the CLI reads for the
// vCenter connection, found by asking vsphere.ConfigFromEnv.
func govcReadByCLI() map[string]bool {
	read := map[string]bool{}
	vsphere.ConfigFromEnv(func(k string) string { read[k] = true; return "" })
	return read
}

// The CronJobs agree with the image (entrypoint, non-root user), with the
// CLI (apply's flags, the GOVC_* variables it reads and the README names)
// and with themselves (every path on a volume; the plan, the Secret and the
// metrics directory where the volumes put them).
func TestKubernetesManifests(t *testing.T) {
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	uid := dockerUID(t, final.user)
	all := readManifests(t)

	kust := all["kustomization.yaml"]
	if len(kust) != 1 {
		t.Fatal("deploy/kubernetes/kustomization.yaml missing")
	}
	for file := range all {
		if file != "kustomization.yaml" && !strings.HasSuffix(file, ".example.yaml") && !slices.Contains(kust[0].Resources, file) {
			t.Errorf("%s is not in kustomization.yaml's resources", file)
		}
	}
	for _, r := range kust[0].Resources {
		if _, ok := all[r]; !ok {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}

	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cli := govcReadByCLI()
	rss := benchmarkPeakRSS(t)

	for _, j := range cronJobs(t, all) {
		name := j.file
		c := j.pod.Containers[0]
		if j.m.Spec.ConcurrencyPolicy != "Forbid" {
			t.Errorf("%s: concurrencyPolicy %q, want Forbid", name, j.m.Spec.ConcurrencyPolicy)
		}
		if len(c.Command) > 0 && !slices.Equal(c.Command, final.entrypoint) {
			t.Errorf("%s: command %q overrides the image's entrypoint %q", name, c.Command, final.entrypoint)
		}
		sc := j.pod.SecurityContext
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != uid || uid == 0 {
			t.Errorf("%s: runAsNonRoot/runAsUser %s/%s, want true/%d (the image's USER)", name, show(sc.RunAsNonRoot), show(sc.RunAsUser), uid)
		}
		if !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("%s: want readOnlyRootFilesystem and no privilege escalation", name)
		}
		if _, ok := j.flags["--auto-approve"]; !ok {
			t.Errorf("%s: apply without --auto-approve refuses to run unattended", name)
		}

		// The report and the journal persist; the metrics file goes to the
		// node's textfile collector directory, under the same path.
		report, metrics := j.flags["--report"], j.flags["--metrics-file"]
		if report == "" || metrics == "" {
			t.Errorf("%s: want --report and --metrics-file, have %v", name, j.flags)
		}
		for what, file := range map[string]string{"--report": report, "XDG_STATE_HOME": j.env["XDG_STATE_HOME"] + "/x",
			"ICLONE_PLAN_CACHE_DIR": j.env["ICLONE_PLAN_CACHE_DIR"] + "/x"} {
			if v, ro := j.mountOf(t, what, file); ro || v == "" {
				t.Errorf("%s: %s %s is not on a writable volume", name, what, file)
			}
		}
		if v, ro := j.mountOf(t, "--metrics-file", metrics); v != "" {
			vol := j.pod.Volumes[j.volume(v)]
			if ro || vol.HostPath == nil || vol.HostPath.Path != path.Dir(metrics) || !strings.HasSuffix(metrics, ".prom") {
				t.Errorf("%s: --metrics-file %s: want a .prom file in a writable hostPath volume of the same directory", name, metrics)
			}
		}

		// The plan: a ConfigMap key named as the file, holding a valid plan
		// named as the CronJob's label.
		if v, _ := j.mountOf(t, "the plan", j.planPath); v != "" {
			vol := j.pod.Volumes[j.volume(v)]
			if vol.ConfigMap == nil {
				t.Errorf("%s: the plan %s is not from a ConfigMap", name, j.planPath)
			} else if cm := find(all, "ConfigMap", vol.ConfigMap.Name); cm == nil {
				t.Errorf("%s: ConfigMap %s is not in the manifests", name, vol.ConfigMap.Name)
			} else if src, ok := cm.Data[path.Base(j.planPath)]; !ok {
				t.Errorf("%s: ConfigMap %s has no key %s", name, vol.ConfigMap.Name, path.Base(j.planPath))
			} else if p, err := plan.Parse(j.planPath, []byte(src)); err != nil {
				t.Errorf("%s: the plan in ConfigMap %s:\n%v", name, vol.ConfigMap.Name, err)
			} else if p.Name != j.m.Metadata.Labels["iclone-plan/plan"] {
				t.Errorf("%s: the ConfigMap's plan is %q, the CronJob's label %q", name, p.Name, j.m.Metadata.Labels["iclone-plan/plan"])
			}
		}

		// The connection: GOVC_* variables the CLI reads and the README
		// names; secrets from the Secret the example shows; the CA file on
		// the volume of that Secret's ca.pem.
		var secretName string
		for k, v := range j.env {
			if !strings.HasPrefix(k, "GOVC_") {
				continue
			}
			if !cli[k] {
				t.Errorf("%s: %s is not a variable iclone-plan reads", name, k)
			}
			if !strings.Contains(string(readme), "`"+k+"`") {
				t.Errorf("%s: %s is not in the README's table of variables", name, k)
			}
			if ref, ok := strings.CutPrefix(v, "secret:"); ok {
				s, key, _ := strings.Cut(ref, "/")
				secretName = s
				sec := find(all, "Secret", s)
				if sec == nil {
					t.Errorf("%s: %s refers to Secret %s, which no manifest shows", name, k, s)
				} else if _, ok := sec.StringData[key]; !ok || key != k {
					t.Errorf("%s: %s refers to key %s of Secret %s: want the variable's own name, present", name, k, key, s)
				}
			}
		}
		for _, k := range []string{"GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD"} {
			if !strings.HasPrefix(j.env[k], "secret:") {
				t.Errorf("%s: %s is not from a Secret", name, k)
			}
		}
		if ca := j.env["GOVC_TLS_CA_CERTS"]; ca != "" {
			if v, _ := j.mountOf(t, "GOVC_TLS_CA_CERTS", ca); v != "" {
				vol := j.pod.Volumes[j.volume(v)]
				if vol.Secret == nil || vol.Secret.SecretName != secretName || !slices.ContainsFunc(vol.Secret.Items, func(it struct {
					Key  string `yaml:"key"`
					Path string `yaml:"path"`
				}) bool {
					return it.Path == path.Base(ca)
				}) {
					t.Errorf("%s: GOVC_TLS_CA_CERTS %s is not a file of Secret %s's volume", name, ca, secretName)
				}
			}
		}

		// Memory: at least the peak BENCHMARKS.md measured for 10,000 clones.
		req, lim := quantity(t, c.Resources.Requests["memory"]), quantity(t, c.Resources.Limits["memory"])
		if req < rss || lim < 2*rss || c.Resources.Requests["cpu"] == "" {
			t.Errorf("%s: memory request %d / limit %d bytes, cpu request %q: want ≥ %d / ≥ %d (BENCHMARKS.md) and a cpu request",
				name, req, lim, c.Resources.Requests["cpu"], rss, 2*rss)
		}
	}
}

// show formats an optional manifest field.
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// benchmarkPeakRSS is the peak resident set BENCHMARKS.md reports for an
// apply of 10,000 clones, in bytes.
func benchmarkPeakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`peak resident set of the process \(plan \+ apply\) \| \*\*([0-9.]+) MB\*\*`).FindSubmatch(b)
	if m == nil {
		t.Fatal("BENCHMARKS.md: no peak resident set figure")
	}
	mb, _ := strconv.ParseFloat(string(m[1]), 64)
	return int64(mb * 1e6)
}

// quantity parses a Kubernetes memory quantity in Mi or Gi.
func quantity(t *testing.T, q string) int64 {
	t.Helper()
	for suffix, mult := range map[string]int64{"Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err == nil {
				return v * mult
			}
		}
	}
	t.Errorf("memory quantity %q: want NMi or NGi", q)
	return 0
}

// The systemd unit runs apply unattended with a report and metrics file,
// and the command line is one the CLI accepts.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/systemd/iclone-plan@.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.*)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("iclone-plan@.service: no ExecStart")
	}
	args := strings.Fields(string(m[2]))
	if path.Base(string(m[1])) != "iclone-plan" || args[0] != "apply" {
		t.Errorf("ExecStart runs %s %q", m[1], args)
	}
	for _, want := range []string{"--auto-approve", "--report", "--metrics-file"} {
		if !slices.Contains(args, want) {
			t.Errorf("ExecStart lacks %s", want)
		}
	}
	if !strings.Contains(string(b), "EnvironmentFile=") || !strings.Contains(string(b), "TimeoutStopSec=") {
		t.Error("iclone-plan@.service: want EnvironmentFile= (the GOVC_* variables) and TimeoutStopSec= (time to roll back)")
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "deploy/systemd/iclone-plan@.timer")); err != nil {
		t.Error(err)
	}
}

// The CronJob's command line runs: the CLI, built, applies the ConfigMap's
// plan with the CronJob's arguments against the simulator (--sim), and
// writes the report and the metrics file where the flags say.
func TestKubernetesCommandRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI and applies a plan against the simulator")
	}
	all := readManifests(t)
	j := cronJobs(t, all)[0]
	dir := t.TempDir()
	bin := filepath.Join(dir, "iclone-plan")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/iclone-plan").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The container's paths, under dir.
	root := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }
	vol := j.pod.Volumes[j.volume(mustMount(t, j, j.planPath))]
	src := find(all, "ConfigMap", vol.ConfigMap.Name).Data[path.Base(j.planPath)]
	for _, p := range []string{j.planPath, j.flags["--report"], j.flags["--metrics-file"]} {
		if err := os.MkdirAll(filepath.Dir(root(p)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(root(j.planPath), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"apply", "--sim"}
	for _, a := range j.pod.Containers[0].Args[1:] {
		if strings.HasPrefix(a, "/") {
			a = root(a)
		}
		args = append(args, a)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+root(j.env["XDG_STATE_HOME"]),
		"ICLONE_PLAN_CACHE_DIR="+root(j.env["ICLONE_PLAN_CACHE_DIR"]), "NO_COLOR=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("iclone-plan %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var rep map[string]any
	if b, err := os.ReadFile(root(j.flags["--report"])); err != nil || json.Unmarshal(b, &rep) != nil {
		t.Errorf("report %s: %v", j.flags["--report"], err)
	}
	metrics, err := os.ReadFile(root(j.flags["--metrics-file"]))
	if err != nil {
		t.Fatal(err)
	}
	want := `iclone_plan_last_run_success{plan="` + j.m.Metadata.Labels["iclone-plan/plan"] + `"} 1`
	if !strings.Contains(string(metrics), want) {
		t.Errorf("metrics file lacks %q:\n%s", want, metrics)
	}
}

func mustMount(t *testing.T, j cronJob, file string) string {
	t.Helper()
	v, _ := j.mountOf(t, "file", file)
	if v == "" {
		t.FailNow()
	}
	return v
}
