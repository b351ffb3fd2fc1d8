package structs

// TermSize is the size of a terminal in characters, which exec passes from
// the user's terminal to a command's in a container.
type TermSize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}
