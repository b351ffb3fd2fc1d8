package api

import "time"

// changeIndexes is an ability a State may have: the log index of the last
// change to each service (with its tasks) and to any node. Without it a
// blocking query takes the view's own index, which moves with every entry.
type changeIndexes interface {
	ServiceChangedAt(name string) uint64
	NodesChangedAt() uint64
}

// Blocking queries wait DefaultWait when they name no wait, and at most
// MaxWait, as Consul's do.
const (
	DefaultWait = 5 * time.Minute
	MaxWait     = 10 * time.Minute
)

// IndexHeader carries the index of an answer that a blocking query can
// wait past, as Consul's and Nomad's X-*-Index headers do.
const IndexHeader = "X-Skiff-Index"
