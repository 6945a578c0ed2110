package verdict

import "testing"

func TestChecklist(t *testing.T) {
	var l Checklist
	if l.Pass() {
		t.Error("an empty list passed")
	}
	l.Add("units", true, "%d skus", 12)
	if !l.Pass() || l.Checks[0].Detail != "12 skus" {
		t.Errorf("got %+v, want one passing check with its detail", l)
	}
	l.Add("limits", false, "over")
	if l.Pass() {
		t.Error("a list with a failed check passed")
	}
}
