package runtime

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/image"
)

// Image is one image the engine holds.
type Image struct {
	ID      string
	Tags    []string
	Created time.Time
	Size    int64
}

// ImageCollector is implemented by runtimes that can list and remove a
// node's images and say how full the disk of the engine's data root is.
type ImageCollector interface {
	Images(ctx context.Context) ([]Image, error)
	// RemoveImage removes an image; the engine refuses one that a
	// container uses.
	RemoveImage(ctx context.Context, id string) error
	// DataRootUsage is the used and total bytes of the file system that
	// holds the engine's data root.
	DataRootUsage(ctx context.Context) (used, total uint64, err error)
}

// Images implements ImageCollector.
func (d *Docker) Images(ctx context.Context) ([]Image, error) {
	list, err := d.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(list))
	for _, im := range list {
		out = append(out, Image{ID: im.ID, Tags: im.RepoTags, Created: time.Unix(im.Created, 0), Size: im.Size})
	}
	return out, nil
}

// RemoveImage implements ImageCollector. It never forces: an image that a
// container, running or not, still uses stays.
func (d *Docker) RemoveImage(ctx context.Context, id string) error {
	_, err := d.cli.ImageRemove(ctx, id, image.RemoveOptions{PruneChildren: true})
	if err == nil {
		d.images.Clear()
	}
	return err
}

// DataRootUsage implements ImageCollector from the engine's data root as
// it names it; the agent must see the same file system there, as it does
// when it runs on the engine's host.
func (d *Docker) DataRootUsage(ctx context.Context) (used, total uint64, err error) {
	info, err := d.cli.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(info.DockerRootDir, &st); err != nil {
		return 0, 0, fmt.Errorf("disk of the engine's data root %s: %w", info.DockerRootDir, err)
	}
	total = st.Blocks * uint64(st.Bsize)
	return total - st.Bfree*uint64(st.Bsize), total, nil
}
