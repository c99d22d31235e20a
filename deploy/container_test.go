package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// EnvContainer names the container engine (docker or podman) that
// TestContainerImage builds and runs the image with; unset, it is skipped.
const EnvContainer = "IDVAUTH_TEST_CONTAINER"

// TestContainerImage builds the image from the Dockerfile and runs it:
// the user it runs as, the version it reports, and its HEALTHCHECK
// command passing inside the running container. It needs a container
// engine and the base images from their registries, which the machines
// these tests usually run on lack, so it runs only when EnvContainer names
// the engine (and then fails rather than skips if the engine fails).
// TestImageBinary tests what the image runs without an engine.
func TestContainerImage(t *testing.T) {
	engine := os.Getenv(EnvContainer)
	if engine == "" {
		t.Skipf("building the image needs a container engine and registry access: set %s=docker or %s=podman to run it", EnvContainer, EnvContainer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, engine, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", engine, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	const image, version = "idvauth:deploytest", "v0.0.0-containertest"
	run("build", "--build-arg", "VERSION="+version, "-t", image, root)
	t.Cleanup(func() { _ = exec.Command(engine, "rmi", "-f", image).Run() })

	if user := run("image", "inspect", "--format", "{{.Config.User}}", image); user != "65532:65532" {
		t.Errorf("image user = %q, want 65532:65532", user)
	}
	if out := run("run", "--rm", image, "version"); !strings.Contains(out, version) {
		t.Errorf("idvauth version in the image = %q, want %s", out, version)
	}
	name := "idvauth-deploytest-" + time.Now().UTC().Format("150405.000000")
	name = strings.ReplaceAll(name, ".", "")
	run("run", "-d", "--read-only", "--name", name, image, "serve", "--dev", "--dev-allow-remote")
	t.Cleanup(func() { _ = exec.Command(engine, "rm", "-f", name).Run() })
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		err := exec.CommandContext(ctx, engine, "exec", name, "/usr/local/bin/idvauth", "health").Run()
		if err == nil {
			break
		}
		select {
		case <-deadline:
			logs, _ := exec.Command(engine, "logs", name).CombinedOutput()
			t.Fatalf("idvauth health in the container still fails after 2m: %v\n%s", err, logs)
		case <-tick.C:
		}
	}
}
