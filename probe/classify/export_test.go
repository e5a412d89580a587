package classify

// SetBudget lets the agreement test measure recall as a function of the
// packet budget.
func (f *Flow) SetBudget(n int) { f.budget = uint8(n) }
