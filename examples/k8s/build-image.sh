#!/usr/bin/env bash
# build-image.sh [TAG] — build the wsbench image (Dockerfile FROM scratch)
# with podman, or docker when podman is missing, and smoke-test it: the
# container runs `wsbench run` of a short echo scenario against its own
# embedded server and must exit 0.
#   TAG defaults to wsbench:dev (the chart's default image).
# Load it into a cluster: `podman save wsbench:dev | kind load image-archive /dev/stdin`,
# or push it to your registry and set image.repository/image.tag.
set -euo pipefail
tag=${1:-wsbench:dev}
root=$(cd "$(dirname "$0")/../.." && pwd)
engine=$(command -v podman || command -v docker || true)
if [[ -z $engine ]]; then
	echo "build-image.sh: neither podman nor docker is installed (Debian: apt-get install podman)" >&2
	exit 2
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
version=$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/wsbench/wsbench/cmd.Version=$version" -o "$ctx/wsbench" .)
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
cp "$root/examples/k8s/Dockerfile" "$ctx/"
if file "$ctx/wsbench" 2>/dev/null | grep -q dynamically; then
	echo "build-image.sh: $ctx/wsbench is dynamically linked; FROM scratch needs a static binary" >&2
	exit 1
fi
"$engine" build -q -t "$tag" "$ctx"
echo "built $tag ($("$engine" image inspect --format '{{.Size}}' "$tag") bytes)"

# Smoke test: the image runs a load test on its own (the embedded server,
# loopback inside the container's network namespace).
cat > "$ctx/smoke.yaml" <<'YAML'
target: builtin
connect: {path: /echo}
duration: 2s
thresholds:
  - rtt count > 0
  - errors count == 0
scenarios:
  echo:
    vus: 4
    steps:
      - connect
      - repeat:
          duration: 2s
          every: 50ms
          steps:
            - send: {text: "vu={{vu}} seq={{seq}}"}
            - expect: {name: rtt, regex: "^vu={{vu}} seq=", timeout: 2s}
      - close
YAML
smoke=(run --rm --network none -v "$ctx/smoke.yaml:/smoke.yaml:ro" "$tag" run /smoke.yaml --quiet)
if ! "$engine" "${smoke[@]}"; then
	# In a sandbox without cgroup v2 delegation or the right to set rlimits
	# (as on the machine this was written on), podman's default crun fails
	# with "setrlimit RLIMIT_NOFILE: Operation not permitted" or "cgroups in
	# hybrid mode not supported": retry with runc, cgroupfs and the limits
	# this shell already has.
	[[ $engine == *podman ]] && command -v runc >/dev/null || exit 1
	echo "build-image.sh: retrying the smoke test with runc, cgroupfs and the current ulimits" >&2
	"$engine" --runtime runc --cgroup-manager cgroupfs run --ulimit "nofile=$(ulimit -n):$(ulimit -Hn)" --ulimit nproc=4096:4096 "${smoke[@]:1}"
fi
echo "smoke test passed: $tag runs wsbench FROM scratch"
