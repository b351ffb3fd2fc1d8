package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/skiff-run/skiff/schedule"
	"github.com/skiff-run/skiff/structs"
)

// MaxBodyBytes caps a request body or service file.
const MaxBodyBytes = 1 << 20

// Limits that separate a real definition from a typo or an absurd one.
const (
	MaxDesiredCount = 100_000
	MaxContainers   = 10
	MaxCPUUnits     = 65_536    // 64 vCPU in ECS units
	MaxMemoryMiB    = 1_048_576 // 1 TiB
	MinMemoryMiB    = 6         // the least Docker accepts
	MaxStrategies   = 5
	MaxConstraints  = 10
	MaxBackoffLimit = 3600
	MaxStopTimeout  = 120
	MaxPidsLimit    = 4_194_304 // the kernel's highest pid_max
	maxNameLength   = 255
	MaxVolumes      = 20
	MaxDependencies = 20
	maxRunTaskCount = 1000
)

// FieldError is bad input: the field at fault, as a JSON path, and what was
// expected there.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"error"`
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ServiceFile is the document `skiff apply` takes: an ECS service whose
// taskDefinition is inline, in ECS field names.
type ServiceFile struct {
	Service              string                        `json:"service"`
	ServiceName          string                        `json:"serviceName"`
	DesiredCount         *int                          `json:"desiredCount"`
	SchedulingStrategy   string                        `json:"schedulingStrategy,omitempty"`
	PlacementStrategy    []structs.PlacementStrategy   `json:"placementStrategy"`
	PlacementConstraints []structs.PlacementConstraint `json:"placementConstraints"`
	RestartPolicy        structs.RestartPolicy         `json:"restartPolicy"`
	TaskDefinition       TaskDefinitionField           `json:"taskDefinition"`
	// Project and DependsOn are skiff's, not ECS's: the compose project a
	// service belongs to, and the services it waits for.
	Project   string                      `json:"project,omitempty"`
	DependsOn []structs.ServiceDependency `json:"dependsOn,omitempty"`
	// Source is skiff's too: the directory `skiff apply -f DIR` applied
	// the service from, which that command sets (see structs.Service).
	Source string `json:"source,omitempty"`
	// Schedule and Concurrency make the file a scheduled task's (see
	// DecodeScheduleFile) rather than a service's.
	Schedule    string `json:"schedule,omitempty"`
	Concurrency string `json:"concurrency,omitempty"`
	// DeploymentConfiguration and HealthCheckGracePeriodSeconds bound the
	// service's rolling deployments, as in ECS.
	DeploymentConfiguration       *structs.DeploymentConfiguration `json:"deploymentConfiguration,omitempty"`
	HealthCheckGracePeriodSeconds int                              `json:"healthCheckGracePeriodSeconds,omitempty"`
	// Rebalance is skiff's: false keeps a spread service's tasks where
	// they are when a node joins or returns.
	Rebalance *bool `json:"rebalance,omitempty"`
	// Tags label the service, as ECS's do.
	Tags []structs.Tag `json:"tags,omitempty"`
	// Cluster is the pool the service runs in, as ECS names a service's
	// cluster (a name, or a cluster ARN, whose name is taken); Scheduler
	// "external" leaves its placements to an outside program.
	Cluster   string `json:"cluster,omitempty"`
	Scheduler string `json:"scheduler,omitempty"`
	// LoadBalancers are ECS's, with skiff's protocol, routing and
	// balancing fields; see checkLoadBalancers.
	LoadBalancers []structs.LoadBalancer `json:"loadBalancers,omitempty"`
}

// TaskDefinitionField is a service file's taskDefinition: the definition
// itself, inline, or, as `aws ecs create-service` takes it, the "family"
// (its newest revision) or "family:revision" of a registered one. One of
// the two is set once a file has decoded.
type TaskDefinitionField struct {
	Def *structs.TaskDefinition
	Ref string
}

// UnmarshalJSON takes a string as a reference and anything else as the
// definition.
func (f *TaskDefinitionField) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &f.Ref)
	}
	return json.Unmarshal(b, &f.Def)
}

// check validates whichever of the two is set, naming field in errors,
// and returns the warnings of an inline definition. An inline definition's
// revision is the registry's to number, so the one it carries is dropped.
func (f TaskDefinitionField) check(field string) ([]string, error) {
	switch {
	case f.Def == nil && f.Ref == "":
		return nil, fieldErr(field, "required: an ECS task definition, or the family[:revision] of a registered one")
	case f.Def == nil:
		return nil, checkTaskDefRef(field, f.Ref)
	}
	f.Def.Revision = 0
	if err := ValidateTaskDefinition(f.Def, field); err != nil {
		return nil, err
	}
	return taskDefWarnings(f.Def, field), nil
}

// MarshalJSON writes whichever of the two is set.
func (f TaskDefinitionField) MarshalJSON() ([]byte, error) {
	if f.Def == nil && f.Ref != "" {
		return json.Marshal(f.Ref)
	}
	return json.Marshal(f.Def)
}

// shape lists the fields skiff acts on (with the shape of their contents)
// and the ECS fields it accepts but ignores, for one JSON object.
type shape struct {
	acted   map[string]*shape
	ignored []string
	// maxItems, when set, bounds an array of values of this shape, so
	// that a body of empty objects cannot make the decoder allocate a
	// large struct for each of a few bytes; items names them.
	maxItems int
	items    string
}

// tagShape is a list of ECS tags, at most as many as a resource may have.
var tagShape = &shape{acted: map[string]*shape{"key": nil, "value": nil}, maxItems: structs.MaxTags, items: "tags"}

// checkTags validates tags at field.
func checkTags(field string, tags []structs.Tag) error {
	var te *structs.TagError
	if err := structs.ValidateTags(tags); errors.As(err, &te) {
		return fieldErr(field+te.Field(), "%s", te.Message)
	}
	return nil
}

// Volume shapes. ECS's efsVolumeConfiguration, fsxWindowsFileServerVolumeConfiguration
// and configuredAtLaunch need AWS, so they are accepted and ignored.
var (
	volumeShape = &shape{
		acted: map[string]*shape{
			"name": nil,
			"host": {acted: map[string]*shape{"sourcePath": nil}},
			"dockerVolumeConfiguration": {acted: map[string]*shape{"scope": nil, "autoprovision": nil, "driver": nil,
				"driverOpts": nil, "labels": nil}},
		},
		ignored:  []string{"efsVolumeConfiguration", "fsxWindowsFileServerVolumeConfiguration", "configuredAtLaunch"},
		maxItems: MaxVolumes, items: "volumes",
	}
	mountPointShape = &shape{acted: map[string]*shape{"sourceVolume": nil, "containerPath": nil, "readOnly": nil},
		maxItems: MaxVolumes, items: "mount points"}
	volumeFromShape = &shape{acted: map[string]*shape{"sourceContainer": nil, "readOnly": nil},
		maxItems: MaxContainers, items: "containers"}
)

var (
	linuxParametersShape = &shape{acted: map[string]*shape{
		"capabilities":       {acted: map[string]*shape{"add": nil, "drop": nil}},
		"devices":            {acted: map[string]*shape{"hostPath": nil, "containerPath": nil, "permissions": nil}},
		"tmpfs":              {acted: map[string]*shape{"containerPath": nil, "size": nil, "mountOptions": nil}},
		"initProcessEnabled": nil, "sharedMemorySize": nil, "maxSwap": nil, "swappiness": nil,
	}}
	portMappingShape = &shape{acted: map[string]*shape{"containerPort": nil, "hostPort": nil, "protocol": nil},
		ignored: []string{"name", "appProtocol", "containerPortRange"}}
	containerShape = &shape{
		acted: map[string]*shape{
			"name": nil, "image": nil, "cpu": nil, "memory": nil, "memoryReservation": nil, "pidsLimit": nil, "essential": nil,
			"entryPoint": nil, "command": nil, "links": nil, "workingDirectory": nil, "user": nil, "stopTimeout": nil, "dockerLabels": nil,
			"logConfiguration":     {acted: map[string]*shape{"logDriver": nil, "options": nil}, ignored: []string{"secretOptions"}},
			"environment":          {acted: map[string]*shape{"name": nil, "value": nil}},
			"portMappings":         portMappingShape,
			"dependsOn":            {acted: map[string]*shape{"containerName": nil, "condition": nil}},
			"healthCheck":          {acted: map[string]*shape{"command": nil, "interval": nil, "timeout": nil, "retries": nil, "startPeriod": nil}},
			"resourceRequirements": {acted: map[string]*shape{"type": nil, "value": nil}, maxItems: 2, items: "resource requirements"},
			"mountPoints":          mountPointShape,
			"volumesFrom":          volumeFromShape,
			// Secrets, registry logins and environment files.
			"secrets":               {acted: map[string]*shape{"name": nil, "valueFrom": nil}},
			"repositoryCredentials": {acted: map[string]*shape{"credentialsParameter": nil}},
			"environmentFiles":      {acted: map[string]*shape{"value": nil, "type": nil}},
			// Container options.
			"hostname": nil, "dnsServers": nil, "dnsSearchDomains": nil, "readonlyRootFilesystem": nil, "dockerSecurityOptions": nil,
			"interactive": nil, "pseudoTerminal": nil, "disableNetworking": nil, "startTimeout": nil, "privileged": nil,
			"extraHosts":      {acted: map[string]*shape{"hostname": nil, "ipAddress": nil}},
			"ulimits":         {acted: map[string]*shape{"name": nil, "softLimit": nil, "hardLimit": nil}},
			"systemControls":  {acted: map[string]*shape{"namespace": nil, "value": nil}},
			"linuxParameters": linuxParametersShape,
		},
		ignored:  []string{"restartPolicy", "versionConsistency", "firelensConfiguration", "credentialSpecs"},
		maxItems: MaxContainers, items: "containers",
	}
	taskDefShape = &shape{
		acted: map[string]*shape{"family": nil, "containerDefinitions": containerShape, "volumes": volumeShape,
			"networkMode": nil, "pidMode": nil, "ipcMode": nil, "cpu": nil, "memory": nil, "tags": tagShape},
		ignored: []string{"taskRoleArn", "executionRoleArn", "placementConstraints",
			"requiresCompatibilities", "proxyConfiguration",
			"inferenceAccelerators", "ephemeralStorage", "runtimePlatform", "enableFaultInjection",
			"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
			"registeredBy", "deregisteredAt"},
	}
	serviceShape = &shape{
		acted: map[string]*shape{
			"service": nil, "serviceName": nil, "desiredCount": nil, "schedulingStrategy": nil, "schedule": nil, "concurrency": nil,
			"placementStrategy":    {acted: map[string]*shape{"type": nil, "field": nil}, maxItems: MaxStrategies, items: "strategies"},
			"placementConstraints": {acted: map[string]*shape{"type": nil, "expression": nil}, maxItems: MaxConstraints, items: "constraints"},
			"restartPolicy":        {acted: map[string]*shape{"maxBackoffSeconds": nil}},
			"taskDefinition":       taskDefShape,
			"project":              nil,
			"source":               nil,
			"dependsOn":            {acted: map[string]*shape{"service": nil, "condition": nil}, maxItems: MaxDependencies, items: "dependencies"},
			"deploymentConfiguration": {acted: map[string]*shape{"minimumHealthyPercent": nil, "maximumPercent": nil,
				"deploymentCircuitBreaker": {acted: map[string]*shape{"enable": nil, "rollback": nil}}},
				ignored: []string{"alarms", "strategy", "bakeTimeInMinutes", "lifecycleHooks", "canaryConfiguration", "linearConfiguration"}},
			"healthCheckGracePeriodSeconds": nil,
			"rebalance":                     nil,
			"tags":                          tagShape,
			"cluster":                       nil,
			"scheduler":                     nil,
			"loadBalancers":                 loadBalancerShape,
		},
		ignored: []string{"serviceRegistries", "launchType", "capacityProviderStrategy",
			"platformVersion", "role", "networkConfiguration",
			"deploymentController", "enableECSManagedTags", "propagateTags",
			"enableExecuteCommand", "serviceConnectConfiguration", "volumeConfigurations", "clientToken",
			"availabilityZoneRebalancing", "vpcLatticeConfigurations"},
	}
	// describeShape is what `aws ecs describe-task-definition` prints: the
	// definition wrapped in an object, beside its tags.
	describeShape = &shape{acted: map[string]*shape{"taskDefinition": taskDefShape, "tags": tagShape}}
)

// MaxDepth caps how deeply a service file's objects and arrays may nest.
// ECS's deepest fields need fewer than 10 levels; the cap keeps a body of
// nothing but brackets from costing more than its size to refuse.
const MaxDepth = 32

// MaxListItems bounds a list skiff decodes (command, environment, port
// mappings, ...) where no tighter bound applies.
const MaxListItems = 1000

// fieldChecker walks a body that json.Valid accepted, once, checking its
// keys against the shapes. The path to the current value is kept as
// segments pointing into the body, formatted into a field name only when a
// warning or an error needs one: nothing is copied or re-read per level,
// and a key costs no allocation, so the walk costs no more than the body.
type fieldChecker struct {
	raw      []byte
	pos      int
	path     []pathSegment
	warnings []string
}

// pathSegment is an object key as it appears in the body (escaped when it
// holds a backslash), or an array index when key is nil.
type pathSegment struct {
	key     []byte
	escaped bool
	index   int
}

func (s pathSegment) name() string {
	if !s.escaped {
		return string(s.key)
	}
	var out string
	// The body is valid JSON, so its quoted key decodes.
	_ = json.Unmarshal(append(append([]byte{'"'}, s.key...), '"'), &out)
	return out
}

func (c *fieldChecker) field() string {
	var b strings.Builder
	for _, s := range c.path {
		switch {
		case s.key == nil:
			fmt.Fprintf(&b, "[%d]", s.index)
		case b.Len() > 0:
			b.WriteString("." + s.name())
		default:
			b.WriteString(s.name())
		}
	}
	return b.String()
}

func (c *fieldChecker) skipSpace() {
	for c.pos < len(c.raw) && strings.IndexByte(" \t\r\n", c.raw[c.pos]) >= 0 {
		c.pos++
	}
}

// str moves past the string at pos and returns its text between the
// quotes, still escaped if escaped is set.
func (c *fieldChecker) str() (text []byte, escaped bool) {
	c.pos++
	start := c.pos
	for c.raw[c.pos] != '"' {
		if c.raw[c.pos] == '\\' {
			escaped = true
			c.pos++
		}
		c.pos++
	}
	c.pos++
	return c.raw[start : c.pos-1], escaped
}

// value checks the value at pos against sh and moves past it: ignored ECS
// fields become warnings, fields neither ECS nor skiff knows an error. A
// nil sh takes any keys (an ignored field, dockerLabels, log options), but
// its depth still counts. Arrays hold values of sh's own shape. Arrays
// that will be decoded (acted is set) hold at most MaxListItems, or the
// shape's maxItems: encoding/json grows a slice of structs item by item,
// and a list of empty objects would otherwise cost dozens of bytes for
// each of three in the body.
func (c *fieldChecker) value(sh *shape, acted bool, depth int) error {
	c.skipSpace()
	open := c.raw[c.pos]
	switch open {
	case '"':
		c.str()
		return nil
	case '{', '[':
	default:
		// A number, true, false or null. Scalars are checked by the
		// decoding that follows, which knows their types.
		for c.pos < len(c.raw) && strings.IndexByte(",]} \t\r\n", c.raw[c.pos]) < 0 {
			c.pos++
		}
		return nil
	}
	if depth >= MaxDepth {
		return fieldErr(c.field(), "nested deeper than %d levels", MaxDepth)
	}
	c.pos++
	for i := 0; ; i++ {
		c.skipSpace()
		switch c.raw[c.pos] {
		case ']', '}':
			c.pos++
			return nil
		case ',':
			c.pos++
			c.skipSpace()
		}
		if open == '[' && acted {
			if sh != nil && sh.maxItems > 0 {
				if i == sh.maxItems {
					return fieldErr(c.field(), "expected at most %d %s", sh.maxItems, sh.items)
				}
			} else if i == MaxListItems {
				return fieldErr(c.field(), "expected at most %d items", MaxListItems)
			}
		}
		seg := pathSegment{index: i}
		child, childActed := sh, acted
		if open == '{' {
			seg.key, seg.escaped = c.str()
			c.skipSpace()
			c.pos++ // the colon
			child = nil
			if sh != nil {
				if seg.escaped {
					child, childActed = sh.acted[seg.name()]
				} else {
					child, childActed = sh.acted[string(seg.key)]
				}
				if !childActed {
					c.path = append(c.path, seg)
					if !sh.ignores(seg) {
						return fieldErr(c.field(), "unknown field (not an ECS or skiff field; check the spelling)")
					}
					c.warnings = append(c.warnings, c.field()+" is an ECS field skiff does not act on yet; it is ignored")
					c.path = c.path[:len(c.path)-1]
				}
			}
		}
		c.path = append(c.path, seg)
		if err := c.value(child, childActed, depth+1); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]
	}
}

func (sh *shape) ignores(key pathSegment) bool {
	if key.escaped {
		return slices.Contains(sh.ignored, key.name())
	}
	for _, f := range sh.ignored {
		if f == string(key.key) {
			return true
		}
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decodeStrict decodes raw after checking its fields against sh, turning
// JSON errors into FieldErrors.
func decodeStrict(raw []byte, sh *shape, v any) ([]string, error) {
	if len(raw) > MaxBodyBytes {
		return nil, fieldErr("body", "larger than %d bytes", MaxBodyBytes)
	}
	if !json.Valid(raw) {
		var probe any
		err := json.Unmarshal(raw, &probe)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fieldErr("body", "malformed JSON at byte %d: %v", se.Offset, se)
		}
		return nil, fieldErr("body", "malformed JSON: %v", err)
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return nil, fieldErr("body", "expected a JSON object")
	}
	c := fieldChecker{raw: raw}
	if err := c.value(sh, true, 0); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Type == reflect.TypeFor[structs.TaskSize]() {
			return nil, fieldErr(te.Field, "expected a number or a string such as \"512\", \"1 vCPU\" or \"1GB\", got %s", te.Value)
		}
		if errors.As(err, &te) {
			return nil, fieldErr(te.Field, "expected %s, got %s", te.Type.String(), te.Value)
		}
		return nil, fieldErr("body", "%v", err)
	}
	return c.warnings, nil
}

// DecodeServiceFile parses and validates a service file. It returns the
// service, its task definition, and warnings about ECS fields it ignores.
func DecodeServiceFile(raw []byte) (*structs.Service, *structs.TaskDefinition, []string, error) {
	var f ServiceFile
	warnings, err := decodeStrict(raw, serviceShape, &f)
	if err != nil {
		return nil, nil, nil, err
	}
	name := f.Service
	switch {
	case name == "" && f.ServiceName == "":
		return nil, nil, nil, fieldErr("service", "required: the service's name")
	case name != "" && f.ServiceName != "" && name != f.ServiceName:
		return nil, nil, nil, fieldErr("serviceName", "differs from service (%q vs %q); give one", f.ServiceName, name)
	case name == "":
		name = f.ServiceName
	}
	if err := checkName("service", name); err != nil {
		return nil, nil, nil, err
	}
	if f.Schedule != "" || f.Concurrency != "" {
		return nil, nil, nil, fieldErr("schedule", "the file of a scheduled task, not of a service: it goes to /v1/schedules/%s", name)
	}
	count, err := checkScheduling(&f)
	if err != nil {
		return nil, nil, nil, err
	}
	td := f.TaskDefinition.Def
	more, err := f.TaskDefinition.check("taskDefinition")
	if err != nil {
		return nil, nil, nil, err
	}
	warnings = append(warnings, more...)
	if len(f.PlacementStrategy) > MaxStrategies {
		return nil, nil, nil, fieldErr("placementStrategy", "at most %d strategies", MaxStrategies)
	}
	for i, s := range f.PlacementStrategy {
		if _, err := s.Parse(); err != nil {
			return nil, nil, nil, fieldErr(fmt.Sprintf("placementStrategy[%d]", i), "%v", err)
		}
	}
	if len(f.PlacementConstraints) > MaxConstraints {
		return nil, nil, nil, fieldErr("placementConstraints", "at most %d constraints", MaxConstraints)
	}
	for i, c := range f.PlacementConstraints {
		if _, err := c.Parse(); err != nil {
			return nil, nil, nil, fieldErr(fmt.Sprintf("placementConstraints[%d]", i), "%v", err)
		}
	}
	if b := f.RestartPolicy.MaxBackoffSeconds; b < 0 || b > MaxBackoffLimit {
		return nil, nil, nil, fieldErr("restartPolicy.maxBackoffSeconds", "%d is out of range: expected 0 to %d", b, MaxBackoffLimit)
	}
	if f.Project != "" {
		if err := checkName("project", f.Project); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := checkSource(f.Source); err != nil {
		return nil, nil, nil, err
	}
	if err := checkDependencies(name, f.DependsOn); err != nil {
		return nil, nil, nil, err
	}
	if err := checkDeployment(f.DeploymentConfiguration, f.HealthCheckGracePeriodSeconds); err != nil {
		return nil, nil, nil, err
	}
	if err := checkTags("tags", f.Tags); err != nil {
		return nil, nil, nil, err
	}
	cluster, err := clusterOf("cluster", f.Cluster)
	if err != nil {
		return nil, nil, nil, err
	}
	switch f.Scheduler {
	case "":
	case structs.SchedulerExternal:
		if f.SchedulingStrategy == structs.SchedulingDaemon {
			return nil, nil, nil, fieldErr("scheduler", "%q: a %s service runs one task on every eligible node, which leaves nothing to place", f.Scheduler, structs.SchedulingDaemon)
		}
	default:
		return nil, nil, nil, fieldErr("scheduler", "%q: expected %s, or none for the leader's own scheduler", f.Scheduler, structs.SchedulerExternal)
	}
	if err := checkLoadBalancers(f.LoadBalancers, td); err != nil {
		return nil, nil, nil, err
	}
	svc := &structs.Service{
		LoadBalancers:                 f.LoadBalancers,
		Cluster:                       cluster,
		Scheduler:                     f.Scheduler,
		Name:                          name,
		DeploymentConfiguration:       f.DeploymentConfiguration,
		HealthCheckGracePeriodSeconds: f.HealthCheckGracePeriodSeconds,
		DesiredCount:                  count,
		PlacementStrategy:             f.PlacementStrategy,
		PlacementConstraints:          f.PlacementConstraints,
		RestartPolicy:                 f.RestartPolicy,
		Project:                       f.Project,
		Source:                        f.Source,
		DependsOn:                     f.DependsOn,
		Rebalance:                     f.Rebalance,
		Tags:                          f.Tags,
	}
	if f.SchedulingStrategy == structs.SchedulingDaemon {
		svc.SchedulingStrategy = structs.SchedulingDaemon
	}
	if td == nil {
		svc.TaskDefinition = f.TaskDefinition.Ref
	}
	return svc, td, warnings, nil
}

// DecodeScheduleFile parses and validates the file of a scheduled task: a
// service file's service (or serviceName), taskDefinition, schedule (an
// EventBridge cron() or rate() expression, see package schedule) and
// concurrency (allow, the default, forbid or replace). A service's other
// fields are refused, naming them.
func DecodeScheduleFile(raw []byte) (*structs.Schedule, *structs.TaskDefinition, []string, error) {
	var f ServiceFile
	warnings, err := decodeStrict(raw, serviceShape, &f)
	if err != nil {
		return nil, nil, nil, err
	}
	name := f.Service
	if name == "" {
		name = f.ServiceName
	}
	if err := checkName("service", name); err != nil {
		return nil, nil, nil, err
	}
	for _, c := range []struct {
		field string
		set   bool
	}{{"desiredCount", f.DesiredCount != nil}, {"schedulingStrategy", f.SchedulingStrategy != ""},
		{"placementStrategy", len(f.PlacementStrategy) > 0}, {"placementConstraints", len(f.PlacementConstraints) > 0},
		{"dependsOn", len(f.DependsOn) > 0}, {"project", f.Project != ""}, {"source", f.Source != ""}, {"rebalance", f.Rebalance != nil}, {"scheduler", f.Scheduler != ""}, {"loadBalancers", len(f.LoadBalancers) > 0},
		{"cluster", structs.ClusterName(f.Cluster) != structs.DefaultCluster}} {
		if c.set {
			return nil, nil, nil, fieldErr(c.field, "not taken by a scheduled task, which runs one one-off task at each time")
		}
	}
	if _, err := schedule.Parse(f.Schedule, time.Now()); err != nil {
		if f.Schedule == "" {
			return nil, nil, nil, fieldErr("schedule", "required: cron(minutes hours day-of-month month day-of-week year) or rate(N minutes|hours|days)")
		}
		return nil, nil, nil, fieldErr("schedule", "%v", err)
	}
	s := &structs.Schedule{Name: name, Expression: f.Schedule, Concurrency: f.Concurrency}
	switch f.Concurrency {
	case "":
		s.Concurrency = structs.ConcurrencyAllow
	case structs.ConcurrencyAllow, structs.ConcurrencyForbid, structs.ConcurrencyReplace:
	default:
		return nil, nil, nil, fieldErr("concurrency", "%q: expected allow, forbid or replace", f.Concurrency)
	}
	td := f.TaskDefinition.Def
	more, err := f.TaskDefinition.check("taskDefinition")
	if err != nil {
		return nil, nil, nil, err
	}
	warnings = append(warnings, more...)
	if td == nil {
		s.TaskDefinition = f.TaskDefinition.Ref
	}
	return s, td, warnings, nil
}

// IsScheduleFile reports whether a service file, which must be a JSON
// object, names a schedule, so that the CLI knows where to send it.
func IsScheduleFile(raw []byte) bool {
	var probe struct {
		Schedule *string `json:"schedule"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Schedule != nil
}

// checkScheduling checks the scheduling strategy and the desired count
// that goes with it, and returns the count. REPLICA, the default, needs a
// desiredCount. DAEMON runs one task on every eligible node that meets the
// constraints, so it takes no desiredCount (ECS ignores one; skiff refuses
// a positive one rather than run a count other than asked, and takes 0 or
// none) and, as in ECS, no placementStrategy.
func checkScheduling(f *ServiceFile) (int, error) {
	switch f.SchedulingStrategy {
	case "", structs.SchedulingReplica:
	case structs.SchedulingDaemon:
		if f.DesiredCount != nil && *f.DesiredCount != 0 {
			return 0, fieldErr("desiredCount", "%d: a %s service runs one task on every eligible node that meets its constraints; leave desiredCount out",
				*f.DesiredCount, structs.SchedulingDaemon)
		}
		if len(f.PlacementStrategy) > 0 {
			return 0, fieldErr("placementStrategy", "not taken by a %s service, which runs one task on every eligible node", structs.SchedulingDaemon)
		}
		if f.Rebalance != nil {
			return 0, fieldErr("rebalance", "not taken by a %s service, whose tasks never move: each belongs to its node", structs.SchedulingDaemon)
		}
		return 0, nil
	default:
		return 0, fieldErr("schedulingStrategy", "%q: expected %s or %s", f.SchedulingStrategy, structs.SchedulingReplica, structs.SchedulingDaemon)
	}
	if f.DesiredCount == nil {
		return 0, fieldErr("desiredCount", "required: a whole number from 0 to %d", MaxDesiredCount)
	}
	if *f.DesiredCount < 0 || *f.DesiredCount > MaxDesiredCount {
		return 0, fieldErr("desiredCount", "%d is out of range: expected 0 to %d", *f.DesiredCount, MaxDesiredCount)
	}
	return *f.DesiredCount, nil
}

// checkDeployment checks a service's deployment bounds as ECS does: at
// most all tasks may be kept healthy, and at least all of them may run.
func checkDeployment(c *structs.DeploymentConfiguration, grace int) error {
	if grace < 0 {
		return fieldErr("healthCheckGracePeriodSeconds", "%d: must not be negative", grace)
	}
	if c == nil {
		return nil
	}
	if p := c.MinimumHealthyPercent; p != nil && (*p < 0 || *p > 100) {
		return fieldErr("deploymentConfiguration.minimumHealthyPercent", "%d is out of range: expected 0 to 100", *p)
	}
	if p := c.MaximumPercent; p != nil && (*p < 100 || *p > 1000) {
		return fieldErr("deploymentConfiguration.maximumPercent", "%d is out of range: expected 100 to 1000", *p)
	}
	return nil
}

// checkDependencies checks a service's dependsOn: other services, each
// named once, with a condition compose knows. Whether they exist is the
// leader's to say when it plans, since a project's services may be applied
// in any order.
func checkDependencies(service string, deps []structs.ServiceDependency) error {
	if len(deps) > MaxDependencies {
		return fieldErr("dependsOn", "at most %d dependencies", MaxDependencies)
	}
	seen := map[string]bool{}
	for i, d := range deps {
		p := fmt.Sprintf("dependsOn[%d]", i)
		if err := checkName(p+".service", d.Service); err != nil {
			return err
		}
		if d.Service == service {
			return fieldErr(p+".service", "%q is this service: a service cannot wait for itself", d.Service)
		}
		if seen[d.Service] {
			return fieldErr(p+".service", "%q is named twice", d.Service)
		}
		seen[d.Service] = true
		switch d.Condition {
		case structs.ConditionStarted, structs.ConditionHealthy, structs.ConditionCompletedSuccessfully:
		default:
			return fieldErr(p+".condition", "%q: expected %s, %s or %s", d.Condition,
				structs.ConditionStarted, structs.ConditionHealthy, structs.ConditionCompletedSuccessfully)
		}
	}
	return nil
}

// checkTaskDefRef checks a reference to a registered definition: a family
// name, with a revision or without (the newest).
func checkTaskDefRef(field, ref string) error {
	if !strings.Contains(ref, ":") {
		if err := checkName(field, ref); err != nil {
			return fieldErr(field, "%q: expected family or family:revision of a registered task definition", ref)
		}
		return nil
	}
	family, _, err := structs.ParseTaskDefRef(ref)
	if err != nil || checkName(field, family) != nil {
		return fieldErr(field, "%q: expected family or family:revision of a registered task definition", ref)
	}
	return nil
}

// DecodeTaskDefinition parses and validates an ECS task definition: bare,
// as `aws ecs register-task-definition --cli-input-json` takes it, or
// wrapped as `aws ecs describe-task-definition` prints it, whose read-only
// fields (taskDefinitionArn, revision, status, ...) are ignored with a
// warning. Field names in errors and warnings are those of the file.
func DecodeTaskDefinition(raw []byte) (*structs.TaskDefinition, []string, error) {
	var (
		d        describedTaskDefinition
		path     string
		warnings []string
		err      error
	)
	if wrapped(raw) {
		path = "taskDefinition"
		warnings, err = decodeStrict(raw, describeShape, &d)
	} else {
		warnings, err = decodeStrict(raw, taskDefShape, &d.TaskDefinition)
	}
	if err != nil {
		return nil, nil, err
	}
	td := &d.TaskDefinition
	// describe-task-definition prints the tags beside the definition;
	// they become the definition's, where it has none of its own.
	if err := checkTags("tags", d.Tags); err != nil {
		return nil, nil, err
	}
	td.Tags = structs.MergeTags(d.Tags, td.Tags)
	// The registry numbers revisions; the one a file carries is ignored
	// as its warning says.
	td.Revision = 0
	if err := ValidateTaskDefinition(td, path); err != nil {
		return nil, nil, err
	}
	return td, append(warnings, taskDefWarnings(td, path)...), nil
}

// describedTaskDefinition is the output of describe-task-definition.
type describedTaskDefinition struct {
	TaskDefinition structs.TaskDefinition `json:"taskDefinition"`
	Tags           []structs.Tag          `json:"tags"`
}

// wrapped reports whether raw, a JSON object, holds a definition under
// taskDefinition rather than being one (which would have a family). A body
// that is not an object is left to decodeStrict to refuse.
func wrapped(raw []byte) bool {
	var probe struct {
		TaskDefinition json.RawMessage `json:"taskDefinition"`
		Family         json.RawMessage `json:"family"`
	}
	if len(raw) > MaxBodyBytes || json.Unmarshal(raw, &probe) != nil {
		return false
	}
	return probe.TaskDefinition != nil && probe.Family == nil
}

// logDriverRE matches Docker's log driver names, plugins' included
// ("grafana/loki-docker-driver:latest").
var logDriverRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./:-]*$`)

func checkLogConfiguration(field string, lc *structs.LogConfiguration) error {
	if lc == nil {
		return nil
	}
	if !logDriverRE.MatchString(lc.LogDriver) {
		return fieldErr(field+".logDriver", "%q: expected a Docker log driver such as json-file, local, journald or syslog", lc.LogDriver)
	}
	for k := range lc.Options {
		if k == "" {
			return fieldErr(field+".options", "an option has an empty name")
		}
	}
	return nil
}

// MaxGPUs bounds the GPUs one container may ask for.
const MaxGPUs = 16

func checkResourceRequirements(field string, rs []structs.ResourceRequirement) error {
	seen := false
	for i, r := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch r.Type {
		case structs.ResourceGPU:
		case "InferenceAccelerator":
			return fieldErr(f+".type", "InferenceAccelerator is Amazon Elastic Inference, which works only in AWS; expected GPU")
		default:
			return fieldErr(f+".type", "%q: expected GPU", r.Type)
		}
		if seen {
			return fieldErr(f+".type", "GPU is given twice; give one count")
		}
		seen = true
		if n, err := strconv.Atoi(r.Value); err != nil || n < 1 || n > MaxGPUs {
			return fieldErr(f+".value", "%q: expected a count of GPUs from 1 to %d", r.Value, MaxGPUs)
		}
	}
	return nil
}

// taskDefWarnings lists what a valid definition asks for that skiff does
// not do, beside the ignored fields the decoder lists.
func taskDefWarnings(td *structs.TaskDefinition, path string) []string {
	var out []string
	for i := range td.ContainerDefinitions {
		if lc := td.ContainerDefinitions[i].LogConfiguration; lc != nil && lc.AWSOnly() {
			out = append(out, fmt.Sprintf("%s[%d].logConfiguration is an ECS field skiff does not act on for logDriver %q, which works only in AWS; "+
				"the container logs to json-file, rotated at %s x %s", join(path, "containerDefinitions"), i, lc.LogDriver,
				structs.DefaultLogMaxSize, structs.DefaultLogMaxFile))
		}
	}
	return append(out, optionWarnings(td, path)...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

func checkName(field, name string) error {
	if name == "" {
		return fieldErr(field, "required")
	}
	if len(name) > maxNameLength || !nameRE.MatchString(name) {
		return fieldErr(field, "%q: expected up to %d letters, digits, hyphens and underscores, starting with a letter or digit", name, maxNameLength)
	}
	return nil
}

// maxSourceLength bounds a service's source, a directory's name or path.
const maxSourceLength = 1024

// checkSource checks a service's source: empty, for a service not applied
// from a directory, or printable text of a sensible length.
func checkSource(source string) error {
	if len(source) > maxSourceLength {
		return fieldErr("source", "%d bytes: expected at most %d", len(source), maxSourceLength)
	}
	for _, r := range source {
		if !unicode.IsPrint(r) {
			return fieldErr("source", "%q: expected printable text, the directory the service was applied from", source)
		}
	}
	return nil
}

// ValidateTaskDefinition checks a definition; path prefixes field names.
func ValidateTaskDefinition(td *structs.TaskDefinition, path string) error {
	if err := checkName(join(path, "family"), td.Family); err != nil {
		return err
	}
	cp := join(path, "containerDefinitions")
	if n := len(td.ContainerDefinitions); n == 0 || n > MaxContainers {
		return fieldErr(cp, "expected 1 to %d containers, got %d", MaxContainers, n)
	}
	if err := checkTaskModes(td, path); err != nil {
		return err
	}
	if err := checkTags(join(path, "tags"), td.Tags); err != nil {
		return err
	}
	names := map[string]*structs.ContainerDefinition{}
	hostPorts := map[int]string{}
	essential := false
	for i := range td.ContainerDefinitions {
		cd := &td.ContainerDefinitions[i]
		p := fmt.Sprintf("%s[%d]", cp, i)
		if err := checkName(p+".name", cd.Name); err != nil {
			return err
		}
		if names[cd.Name] != nil {
			return fieldErr(p+".name", "duplicate container name %q", cd.Name)
		}
		names[cd.Name] = cd
		if strings.TrimSpace(cd.Image) == "" || strings.ContainsAny(cd.Image, " \t\n") {
			return fieldErr(p+".image", "required: an image reference such as repo/name:tag")
		}
		if cd.CPU < 0 || cd.CPU > MaxCPUUnits {
			return fieldErr(p+".cpu", "%d is out of range: expected 0 to %d cpu units (1024 = one core)", cd.CPU, MaxCPUUnits)
		}
		if cd.Memory != 0 && (cd.Memory < MinMemoryMiB || cd.Memory > MaxMemoryMiB) {
			return fieldErr(p+".memory", "%d is out of range: expected 0 (no limit) or %d to %d MiB", cd.Memory, MinMemoryMiB, MaxMemoryMiB)
		}
		if r := cd.MemoryReservation; r != 0 && (r < MinMemoryMiB || r > MaxMemoryMiB) {
			return fieldErr(p+".memoryReservation", "%d is out of range: expected 0 (none) or %d to %d MiB", r, MinMemoryMiB, MaxMemoryMiB)
		}
		if cd.Memory != 0 && cd.MemoryReservation > cd.Memory {
			return fieldErr(p+".memoryReservation", "%d MiB is more than memory, the hard limit (%d MiB): the soft limit must not exceed it", cd.MemoryReservation, cd.Memory)
		}
		if cd.PidsLimit < 0 || cd.PidsLimit > MaxPidsLimit {
			return fieldErr(p+".pidsLimit", "%d is out of range: expected 0 (the default, %d) or 1 to %d", cd.PidsLimit, structs.DefaultPidsLimit, MaxPidsLimit)
		}
		if err := checkLogConfiguration(p+".logConfiguration", cd.LogConfiguration); err != nil {
			return err
		}
		if err := checkResourceRequirements(p+".resourceRequirements", cd.ResourceRequirements); err != nil {
			return err
		}
		// Docker refuses a relative working directory only when it creates
		// the container, which would fail every start of the task.
		if wd := cd.WorkingDirectory; wd != "" && !strings.HasPrefix(wd, "/") {
			return fieldErr(p+".workingDirectory", "%q: expected an absolute path such as /app", wd)
		}
		if cd.StopTimeout < 0 || cd.StopTimeout > MaxStopTimeout {
			return fieldErr(p+".stopTimeout", "%d is out of range: expected 0 to %d seconds", cd.StopTimeout, MaxStopTimeout)
		}
		essential = essential || cd.IsEssential()
		for j, e := range cd.Environment {
			if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
				return fieldErr(fmt.Sprintf("%s.environment[%d].name", p, j), "required: a variable name without '='")
			}
		}
		seen := map[string]bool{}
		for j, pm := range cd.PortMappings {
			pp := fmt.Sprintf("%s.portMappings[%d]", p, j)
			if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
				return fieldErr(pp+".containerPort", "%d is out of range: expected 1 to 65535", pm.ContainerPort)
			}
			if pm.HostPort < 0 || pm.HostPort > 65535 {
				return fieldErr(pp+".hostPort", "%d is out of range: expected 0 (dynamic) or 1 to 65535", pm.HostPort)
			}
			if pm.Protocol != "" && pm.Protocol != "tcp" && pm.Protocol != "udp" {
				return fieldErr(pp+".protocol", "%q: expected tcp or udp", pm.Protocol)
			}
			key := fmt.Sprintf("%d/%s", pm.ContainerPort, pm.Protocol)
			if seen[key] {
				return fieldErr(pp+".containerPort", "port %d is mapped twice in this container", pm.ContainerPort)
			}
			seen[key] = true
			if pm.HostPort != 0 {
				if other, dup := hostPorts[pm.HostPort]; dup {
					return fieldErr(pp+".hostPort", "host port %d is already used by %s", pm.HostPort, other)
				}
				hostPorts[pm.HostPort] = pp
			}
		}
		if err := checkSecretRefs(p, cd); err != nil {
			return err
		}
		if err := checkContainerOptions(p, cd, td); err != nil {
			return err
		}
		if h := cd.HealthCheck; h != nil {
			hp := p + ".healthCheck"
			if len(h.Command) < 2 || (h.Command[0] != "CMD" && h.Command[0] != "CMD-SHELL") {
				return fieldErr(hp+".command", `expected ["CMD", "prog", "arg"...] or ["CMD-SHELL", "command"]`)
			}
			for _, r := range []struct {
				name     string
				v, lo, h int
			}{{"interval", h.Interval, 5, 300}, {"timeout", h.Timeout, 2, 60}, {"retries", h.Retries, 1, 10}, {"startPeriod", h.StartPeriod, 0, 300}} {
				if r.v != 0 && (r.v < r.lo || r.v > r.h) {
					return fieldErr(hp+"."+r.name, "%d is out of range: expected %d to %d", r.v, r.lo, r.h)
				}
			}
		}
	}
	if !essential {
		return fieldErr(cp, "at least one container must be essential")
	}
	for i := range td.ContainerDefinitions {
		cd := &td.ContainerDefinitions[i]
		p := fmt.Sprintf("%s[%d]", cp, i)
		for j, d := range cd.DependsOn {
			dp := fmt.Sprintf("%s.dependsOn[%d]", p, j)
			target := names[d.ContainerName]
			if target == nil || d.ContainerName == cd.Name {
				return fieldErr(dp+".containerName", "%q is not another container of this task definition", d.ContainerName)
			}
			switch d.Condition {
			case "START", "COMPLETE", "SUCCESS":
			case "HEALTHY":
				if target.HealthCheck == nil {
					return fieldErr(dp+".condition", "HEALTHY needs a healthCheck on container %q", d.ContainerName)
				}
			default:
				return fieldErr(dp+".condition", "%q: expected START, COMPLETE, SUCCESS or HEALTHY", d.Condition)
			}
		}
		for j, l := range cd.Links {
			name, _, _ := strings.Cut(l, ":")
			if names[name] == nil || name == cd.Name {
				return fieldErr(fmt.Sprintf("%s.links[%d]", p, j), "%q is not another container of this task definition", l)
			}
		}
	}
	if err := checkVolumes(td, path); err != nil {
		return err
	}
	order, err := structs.StartOrder(td)
	if err != nil {
		return fieldErr(cp, "%v", err)
	}
	if err := checkTaskBudget(td, path); err != nil {
		return err
	}
	return checkTaskNamespaces(td, path, order)
}
