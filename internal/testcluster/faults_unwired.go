//go:build !skiff_faults

package testcluster

import (
	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/faultnet"
)

// FaultsWired reports whether agents take a faultnet.Filter. Until
// agent.Config has its Faults field, Partition cannot cut anything, and
// tests that need it skip; build with -tags skiff_faults once it is there.
const FaultsWired = false

func wireFaults(*agent.Config, *faultnet.Filter) {}
