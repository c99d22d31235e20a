// Package deploy holds no code: its tests hold the deployment files of the
// repository (Dockerfile, compose.yaml, deploy/compose, deploy/kubernetes)
// to idvauth's real settings, ports, health endpoints and build.
package deploy
