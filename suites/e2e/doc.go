// Package e2e is pretrain-check's e2e tier (build tag e2e): it brings the
// kind replica up (harness/cluster), runs every suite against it with real
// proxies, proves that the suites fail, naming the right cases, when the
// live replica routes wrongly (one fault at a time, restored after each),
// keeps the upstream profile's manifests valid with a server-side dry-run
// against the replica's API server, and tears the replica down.
//
//	go test -tags e2e -timeout 90m -v ./suites/e2e/
//
// Environment:
//
//	PRETRAIN_IMAGES_MANIFEST  the images manifest (default _output/images.json,
//	                          written by go run ./cmd/pretrain-images)
//	PRETRAIN_REPORT_DIR       reports and diagnostics (default _output/e2e)
//	PRETRAIN_E2E_KEEP=1       keep the cluster, on success or failure (also "always");
//	                          "on-failure" keeps it only when something failed
//	PRETRAIN_E2E_FAULTS       comma-separated faults to prove (default: all;
//	                          "none" skips the fault proofs)
//	PRETRAIN_E2E_CLUSTER      kind cluster name (default pretrain-check)
//
// Ctrl-C (SIGINT) cancels the run: the cluster is deleted unless kept, and
// the next run starts clean (or reuses a kept cluster of the same config).
package e2e
