// Package ship holds no code: its tests check what iclone-plan ships beside
// the binary against each other and against the CLI — the release
// configuration (.goreleaser.yaml) and, with ICLONE_PLAN_DIST set, the
// archives and checksums a release build made; the container image
// (Dockerfile) and the Kubernetes and systemd deployments (deploy/).
package ship
