//go:build !pprof

package ingress

const profilingBuild = false
