package cmd

import (
	"os"
	"testing"
)

// envAsMain makes the test binary act as the wsbench command, so that
// tests of `run --workers` can start it as their worker processes.
const envAsMain = "WSBENCH_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envAsMain) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}
