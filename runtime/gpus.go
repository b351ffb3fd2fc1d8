package runtime

import (
	"strconv"

	"github.com/docker/docker/api/types/container"

	"github.com/skiff-run/skiff/structs"
)

// gpusFor returns the GPUs, of those the task holds, that belong to the
// named container: the task's GPUs are handed out in the order of the
// definition, each container taking as many as it asks for.
func gpusFor(def *structs.TaskDefinition, name string, gpus []int) []int {
	i := 0
	for c := range def.ContainerDefinitions {
		cd := &def.ContainerDefinitions[c]
		n := cd.GPUs()
		if cd.Name == name {
			if n == 0 || i+n > len(gpus) {
				return nil
			}
			return gpus[i : i+n]
		}
		i += n
	}
	return nil
}

// gpuRequest asks the engine for those GPUs by number, through the NVIDIA
// container runtime's device driver, as `docker run --gpus '"device=0,2"'`
// does. Naming the devices, rather than a count, keeps two tasks on one
// node off each other's GPUs.
func gpuRequest(ids []int) container.DeviceRequest {
	req := container.DeviceRequest{Driver: "nvidia", Capabilities: [][]string{{"gpu"}}}
	for _, id := range ids {
		req.DeviceIDs = append(req.DeviceIDs, strconv.Itoa(id))
	}
	return req
}
