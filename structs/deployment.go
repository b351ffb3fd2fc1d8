package structs

// Deployment states. A deployment is IN_PROGRESS until its service runs
// only its new revision (COMPLETED), or its circuit breaker trips: FAILED
// without rollback, ROLLED_BACK when a rollback deployment to the revision
// before took its place.
const (
	DeploymentInProgress = "IN_PROGRESS"
	DeploymentCompleted  = "COMPLETED"
	DeploymentFailed     = "FAILED"
	DeploymentRolledBack = "ROLLED_BACK"
)

// DeploymentConfiguration is how a service rolls from one revision to the
// next, in ECS's terms. Zero values take ECS's defaults.
type DeploymentConfiguration struct {
	// MinimumHealthyPercent of the desired count stays healthy while old
	// tasks stop (rounded up). Nil means 100.
	MinimumHealthyPercent *int `json:"minimumHealthyPercent,omitempty"`
	// MaximumPercent of the desired count may run or start at once, old
	// and new together (rounded down). Nil means 200.
	MaximumPercent *int `json:"maximumPercent,omitempty"`
	// DeploymentCircuitBreaker fails a deployment whose new tasks keep
	// failing. Nil means enabled with rollback.
	DeploymentCircuitBreaker *CircuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
}

// CircuitBreaker is ECS's deploymentCircuitBreaker.
type CircuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

// Bounds returns the least number of healthy tasks and the most tasks
// that a service of desired tasks keeps during a deployment. At least one
// task may always be added, so that a deployment can move.
func (c *DeploymentConfiguration) Bounds(desired int) (minHealthy, maxTotal int) {
	lo, hi := 100, 200
	if c != nil && c.MinimumHealthyPercent != nil {
		lo = *c.MinimumHealthyPercent
	}
	if c != nil && c.MaximumPercent != nil {
		hi = *c.MaximumPercent
	}
	minHealthy = (desired*lo + 99) / 100
	maxTotal = desired * hi / 100
	if maxTotal <= minHealthy {
		maxTotal = minHealthy + 1
	}
	return minHealthy, maxTotal
}

// Breaker returns whether the circuit breaker is on and whether it rolls
// back.
func (c *DeploymentConfiguration) Breaker() (enable, rollback bool) {
	if c == nil || c.DeploymentCircuitBreaker == nil {
		return true, true
	}
	return c.DeploymentCircuitBreaker.Enable, c.DeploymentCircuitBreaker.Enable && c.DeploymentCircuitBreaker.Rollback
}

// Deployment is one rollout of a service from one task definition
// revision to another. The leader creates it when it finds old tasks of a
// service, moves its counts as tasks start and stop, and ends it.
type Deployment struct {
	ID      string `json:"id"`
	Service string `json:"service"`
	// From is the revision the service ran before; To the one it rolls to.
	From string `json:"from"`
	To   string `json:"to"`
	// Rollback marks a deployment that restores From after a failed one;
	// its own failure does not roll back again.
	Rollback bool `json:"rollback,omitempty"`
	// RestartedAt is the service's restartedAt the deployment rolls to,
	// which tells a restart's deployment from the one before it of the
	// same revision.
	RestartedAt int64  `json:"restartedAt,omitempty"`
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
	// The counts are the new revision's tasks, except OldRunning: the
	// tasks of earlier revisions not yet stopped.
	Desired    int   `json:"desired"`
	Pending    int   `json:"pending"`
	Running    int   `json:"running"`
	Healthy    int   `json:"healthy"`
	Failed     int   `json:"failed"`
	OldRunning int   `json:"oldRunning"`
	CreatedAt  int64 `json:"createdAt"`
	UpdatedAt  int64 `json:"updatedAt"`
}

// Terminal reports whether the deployment has ended.
func (d *Deployment) Terminal() bool { return d.State != DeploymentInProgress }
