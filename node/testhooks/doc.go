// Package testhooks holds the fault-injection switches the process tests
// drive a real edgerag binary with (EDGERAG_TEST_SYNC_*). They exist only
// in a binary built with -tags edgerag_testhooks, as the tests' TestMain
// builds it; the release binary reads no such variable. Package main
// imports it.
package testhooks
