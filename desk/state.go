package desk

import (
	"slices"

	"policydesk/apperr"
)

// Application states (DESIGN.md: the path of one application).
const (
	StateDraft           = "draft"
	StateSubmitted       = "submitted"        // waiting for 形式审查
	StateReturned        = "returned"         // 补正: back with the applicant
	StateAccepted        = "accepted"         // 形式审查 passed, department review
	StateExpertReview    = "expert_review"    // a panel scores it
	StateProposed        = "proposed"         // amount reserved in the ledger
	StateWaitlisted      = "waitlisted"       // no room in the pool or a cap
	StatePublicized      = "publicized"       // on 公示
	StateObjected        = "objected"         // on hold: an objection is open
	StateApproved        = "approved"         // ready for payment
	StateBatched         = "batched"          // in a payment batch
	StatePaid            = "paid"             // paid: ledger posted
	StateRejected        = "rejected"         // refused
	StateWithdrawn       = "withdrawn"        // withdrawn by the applicant
	StateObjectionUpheld = "objection_upheld" // refused after an objection
	StateClawedBack      = "clawed_back"      // recovered after payment
)

// transitions is the state machine: from → the states it may go to. Any
// other move is refused with conflict.
var transitions = map[string][]string{
	StateDraft:        {StateSubmitted, StateWithdrawn},
	StateSubmitted:    {StateAccepted, StateReturned, StateRejected, StateWithdrawn},
	StateReturned:     {StateSubmitted, StateWithdrawn, StateRejected},
	StateAccepted:     {StateExpertReview, StateProposed, StateWaitlisted, StateRejected},
	StateExpertReview: {StateProposed, StateWaitlisted, StateRejected},
	StateWaitlisted:   {StateProposed, StateWaitlisted, StateRejected},
	StateProposed:     {StatePublicized, StateProposed, StateRejected, StateWaitlisted},
	StatePublicized:   {StateObjected, StateApproved, StateRejected},
	StateObjected:     {StatePublicized, StateApproved, StateObjectionUpheld},
	StateApproved:     {StateBatched, StateRejected},
	StateBatched:      {StatePaid, StateApproved},
	StatePaid:         {StateClawedBack},
}

// holdsReservation says which states have money reserved in the ledger.
func holdsReservation(state string) bool {
	switch state {
	case StateProposed, StatePublicized, StateObjected, StateApproved, StateBatched:
		return true
	}
	return false
}

// Terminal reports whether nothing more can happen to an application.
func Terminal(state string) bool {
	_, more := transitions[state]
	return !more
}

func checkMove(from, to string) error {
	if slices.Contains(transitions[from], to) {
		return nil
	}
	return apperr.Newf(apperr.Conflict, "申请当前状态为「%s」,不能变为「%s」", "an application in state %s cannot move to %s", StateName(from), StateName(to))
}

var stateNames = map[string]string{
	StateDraft: "草稿", StateSubmitted: "已提交待形式审查", StateReturned: "退回补正", StateAccepted: "形式审查通过",
	StateExpertReview: "专家评审中", StateProposed: "拟支持", StateWaitlisted: "候补(资金池或上限不足)",
	StatePublicized: "公示中", StateObjected: "公示异议处理中", StateApproved: "已批准", StateBatched: "拨付批次中",
	StatePaid: "已拨付", StateRejected: "未通过", StateWithdrawn: "已撤回", StateObjectionUpheld: "异议成立,不予支持",
	StateClawedBack: "已追回",
}

// StateName is the Chinese name of a state.
func StateName(s string) string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return s
}
