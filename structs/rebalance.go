package structs

// MoveAbandoned starts the stop reason of a rebalance replacement the
// leader gave up on (it turned unhealthy), so that the scheduler, like for
// one that failed, moves no task of the revision to its node again.
const MoveAbandoned = "rebalance abandoned"

// MoveOf finds the rebalance move under way among one service's tasks: a
// replacement still wanted (Replaces set) whose replaced task is still
// wanted too. Until the replacement is healthy and the replaced task is
// asked to stop, the two count as one task of the service. It returns nils
// when no move is under way; the state machine admits one per service.
func MoveOf(tasks []*Task) (replacement, replaced *Task) {
	wanted := map[string]*Task{}
	for _, t := range tasks {
		if t.Active() && t.DesiredStatus == StatusRunning {
			wanted[t.ID] = t
		}
	}
	for _, t := range tasks {
		if t.Replaces == "" || wanted[t.ID] == nil {
			continue
		}
		if o := wanted[t.Replaces]; o != nil {
			return t, o
		}
	}
	return nil, nil
}
