package structs

// Concurrency policies of a schedule, as Kubernetes CronJob names them:
// what a run does while the previous run's task is still active.
const (
	// ConcurrencyAllow starts the run beside it.
	ConcurrencyAllow = "allow"
	// ConcurrencyForbid skips the run, recording it as skipped.
	ConcurrencyForbid = "forbid"
	// ConcurrencyReplace stops it and starts the run.
	ConcurrencyReplace = "replace"
)

// MaxScheduleRuns is how many runs a schedule keeps, newest last; the
// oldest is dropped when a run is recorded beyond it.
const MaxScheduleRuns = 10

// Schedule runs a one-off task of a task definition at each time of an
// EventBridge expression (cron(...) or rate(...)), once cluster-wide: the
// leader records each run in the state, keyed by its scheduled time,
// before the task starts.
type Schedule struct {
	Name           string `json:"name"`
	Expression     string `json:"schedule"`
	TaskDefinition string `json:"taskDefinition"`
	Concurrency    string `json:"concurrency"`
	// Runs are the last runs, oldest first; their times only increase.
	Runs      []ScheduleRun `json:"runs,omitempty"`
	CreatedAt int64         `json:"createdAt"`
	UpdatedAt int64         `json:"updatedAt"`
}

// ScheduleRun is one time a schedule fired.
type ScheduleRun struct {
	// At is the scheduled time, in Unix milliseconds, not when the
	// leader got to it.
	At int64 `json:"at"`
	// Task is the one-off task the run started; empty when it started
	// none.
	Task string `json:"task,omitempty"`
	// Skipped says why the run started no task (forbid while the previous
	// run is active, or no node could take it).
	Skipped string `json:"skipped,omitempty"`
	// Replaced lists the previous runs' tasks the run stopped.
	Replaced []string `json:"replaced,omitempty"`
}

// LastRun returns the time of the newest run, or 0 when none ran.
func (s *Schedule) LastRun() int64 {
	if len(s.Runs) == 0 {
		return 0
	}
	return s.Runs[len(s.Runs)-1].At
}
