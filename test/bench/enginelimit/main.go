// Command enginelimit measures how fast the local Docker Engine itself
// creates and starts, and stops and removes, N containers of one image
// when driven directly through the Docker client by K workers. It is the
// floor that an orchestrator on the same engine is measured against
// (test/bench/swarm.sh):
//
//	enginelimit -n 50 -k 4 up     # create and start 50 containers
//	enginelimit -k 4 down         # stop and remove them again
//	enginelimit -n 50 -k 4 cycle  # both, printing the two times
//
// Each container is made as skiff's Docker runtime makes that of a
// single-container task with 16 MiB of memory: the four skiff labels (under
// a node name no agent uses, so that no agent takes them for its own), the
// default bridge network, no restart policy, json-file logs rotated at 10m
// times 3, a 16 MiB memory limit and a limit of 1024 pids. A stop gives a
// container skiff's 30 s before it is killed, and removal follows once
// every container is stopped. What skiff does beyond this (image and name
// checks, listing the engine, its own state) is what the comparison shows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

// node is the skiff.node label of the containers this program makes.
const node = "enginelimit"

func main() {
	n := flag.Int("n", 10, "containers to create and start")
	k := flag.Int("k", 4, "engine operations under way at once")
	img := flag.String("image", "skiff-testapp:latest", "image of the containers")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: enginelimit [-n N] [-k K] [-image REF] up|down|cycle")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *k < 1 {
		flag.Usage()
		os.Exit(2)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		fail(err)
	}
	defer cli.Close()
	ctx := context.Background()
	cli.NegotiateAPIVersion(ctx)
	switch flag.Arg(0) {
	case "up":
		d, err := up(ctx, cli, *n, *k, *img)
		report("up", *n, *k, d, err)
	case "down":
		d, err := down(ctx, cli, *k)
		report("down", -1, *k, d, err)
	case "cycle":
		d, err := up(ctx, cli, *n, *k, *img)
		report("up", *n, *k, d, err)
		d, err = down(ctx, cli, *k)
		report("down", *n, *k, d, err)
	default:
		flag.Usage()
		os.Exit(2)
	}
}

func report(what string, n, k int, d time.Duration, err error) {
	if err != nil {
		fail(fmt.Errorf("%s: %w", what, err))
	}
	fmt.Printf("%s n=%d k=%d %.3f s\n", what, n, k, d.Seconds())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "enginelimit:", err)
	os.Exit(1)
}

// parallel runs fn for 0..n-1 with k of them under way at once, and
// returns every error.
func parallel(n, k int, fn func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	next := make(chan int)
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// up creates and starts n containers; a container runs once its start
// returns.
func up(ctx context.Context, cli *client.Client, n, k int, img string) (time.Duration, error) {
	pids := int64(1024)
	t0 := time.Now()
	err := parallel(n, k, func(i int) error {
		task := "enginelimit-" + strconv.Itoa(i)
		cfg := &container.Config{
			Image:        img,
			Cmd:          []string{"/testapp", "serve"},
			Labels:       map[string]string{"skiff.node": node, "skiff.task": task, "skiff.service": "bench-engine", "skiff.container": "app"},
			ExposedPorts: nat.PortSet{},
		}
		hc := &container.HostConfig{
			NetworkMode: "bridge",
			LogConfig:   container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
			Resources:   container.Resources{Memory: 16 << 20, PidsLimit: &pids},
		}
		created, err := cli.ContainerCreate(ctx, cfg, hc, &network.NetworkingConfig{}, nil, "skiff-"+task+"-app")
		if err != nil {
			return err
		}
		return cli.ContainerStart(ctx, created.ID, container.StartOptions{})
	})
	return time.Since(t0), err
}

// down stops every container up made, then removes them.
func down(ctx context.Context, cli *client.Client, k int) (time.Duration, error) {
	t0 := time.Now()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "skiff.node="+node))})
	if err != nil {
		return 0, err
	}
	timeout := 30
	err = parallel(len(list), k, func(i int) error {
		return cli.ContainerStop(ctx, list[i].ID, container.StopOptions{Timeout: &timeout})
	})
	if err != nil {
		return time.Since(t0), err
	}
	err = parallel(len(list), k, func(i int) error {
		return cli.ContainerRemove(ctx, list[i].ID, container.RemoveOptions{Force: true})
	})
	return time.Since(t0), err
}
