// Package kubernetes holds the manifests that run edgerag's central
// replicas on Kubernetes (the YAML files beside this one; docs/kubernetes.md
// says how) and the test that checks them against the Kubernetes API types,
// the daemon's own flag set and the metrics the node exports. It is a
// module of its own so that k8s.io/api stays out of edgerag's dependencies.
package kubernetes
