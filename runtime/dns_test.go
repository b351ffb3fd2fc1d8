package runtime

import (
	"slices"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// TestAgentResolverUnlessTheDefinitionNamesOne checks that containers get
// the agent's resolver, except those whose definition names resolvers of
// its own and those on the host's network or on none.
func TestAgentResolverUnlessTheDefinitionNamesOne(t *testing.T) {
	agentDNS := []string{"172.17.0.1"}
	for _, tc := range []struct {
		name string
		mode string
		opts structs.ContainerOptions
		want []string
	}{
		{"default", "", structs.ContainerOptions{}, agentDNS},
		{"bridge", structs.NetworkBridge, structs.ContainerOptions{}, agentDNS},
		{"own resolvers", "", structs.ContainerOptions{DNSServers: []string{"10.0.0.2"}}, []string{"10.0.0.2"}},
		{"host network", structs.NetworkHost, structs.ContainerOptions{}, nil},
		{"no network", structs.NetworkNone, structs.ContainerOptions{}, nil},
		{"networking disabled", "", structs.ContainerOptions{DisableNetworking: true}, nil},
	} {
		def := &structs.TaskDefinition{Family: "web", Revision: 1, TaskOptions: structs.TaskOptions{NetworkMode: tc.mode},
			ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "x", ContainerOptions: tc.opts}}}
		spec := TaskSpec{Task: &structs.Task{ID: "t1"}, Def: def, Node: "n1", DNSServers: agentDNS}
		netName, _ := taskNetwork(spec)
		_, hc, _, err := containerConfig(spec, def.Container("app"), map[string]string{}, netName, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(hc.DNS, tc.want) {
			t.Errorf("%s: resolvers %v, want %v", tc.name, hc.DNS, tc.want)
		}
	}
}
