module github.com/skiff-run/skiff/test/bench/storecmp

go 1.26.8

require (
	github.com/hashicorp/go-immutable-radix/v2 v2.1.0
	github.com/skiff-run/skiff v0.0.0
	github.com/tidwall/btree v1.8.2
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/hashicorp/go-hclog v1.6.3 // indirect
	github.com/hashicorp/go-immutable-radix v1.3.1 // indirect
	github.com/hashicorp/go-metrics v0.7.0 // indirect
	github.com/hashicorp/go-msgpack/v2 v2.1.5 // indirect
	github.com/hashicorp/golang-lru v1.0.2 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.0 // indirect
	github.com/hashicorp/raft v1.8.0 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.22 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace github.com/skiff-run/skiff => ../../..
