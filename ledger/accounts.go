package ledger

import (
	"strconv"
)

// Account codes: the kind of each account the policy helpers create.
const (
	AccountBudget      int32 = 1 // budget/<pool>, budget/unpooled: the treasury side; unbounded
	AccountPool        int32 = 2 // pool/<pool>/<year>: a year's pool; debits ≤ credits
	AccountPayable     int32 = 3 // payable/<uscc>: what the zone owes an enterprise; debits ≤ credits
	AccountCapSource   int32 = 4 // sys/cap_limits: the other side of every cap's funding; unbounded
	AccountCap         int32 = 5 // cap/…: a limit; debits ≤ credits; a breach is exceeds_cap
	AccountCapUsed     int32 = 6 // sys/cap_used: the other side of cap usage; unbounded
	AccountPaidSource  int32 = 7 // sys/paid: the other side of paid/<grant>; unbounded
	AccountPaid        int32 = 8 // paid/<grant>: paid less clawed back of one grant; debits ≤ credits
	AccountUserDefined int32 = 1000
)

// Transfer codes: the reason for each transfer the policy helpers make.
const (
	TransferFundPool  int32 = 1 // budget → pool
	TransferCapLimit  int32 = 2 // cap source → cap, the cap's limit
	TransferGrant     int32 = 3 // pool → payable, pending: a grant's reservation
	TransferGrantCap  int32 = 4 // cap → cap used, pending: the grant's share of a cap
	TransferPay       int32 = 5 // post of a grant's reservations
	TransferRelease   int32 = 6 // void of a grant's reservations
	TransferExpire    int32 = 7 // void by the ledger of an expired pending transfer
	TransferClaw      int32 = 8 // reversal of a paid grant, in part or whole
	TransferPaid      int32 = 9 // sys/paid → paid/<grant>: what a clawback may take back
	TransferUserFirst int32 = 1000
)

// Fixed accounts of the policy helpers.
const (
	CapSourceKey  = "sys/cap_limits"
	CapUsedKey    = "sys/cap_used"
	PaidSourceKey = "sys/paid"
	UnpooledKey   = "budget/unpooled"
)

// BudgetKey is the account that funds a pool's years.
func BudgetKey(pool string) string { return "budget/" + pool }

// PoolKey is the account of a pool in a year, e.g. pool/compute_voucher/2025.
func PoolKey(pool string, year int) string { return "pool/" + pool + "/" + strconv.Itoa(year) }

// PayableKey is what the zone owes an enterprise, by its credit code.
func PayableKey(uscc string) string { return "payable/" + uscc }

// PaidKey tracks what was paid on a grant, less what was clawed back.
func PaidKey(grantID string) string { return "paid/" + grantID }

// ItemCapKey is the cap of an enterprise for an item in a year,
// e.g. cap/91110000…/compute_voucher/2025.
func ItemCapKey(uscc, item string, year int) string {
	return "cap/" + uscc + "/" + item + "/" + strconv.Itoa(year)
}

// ProjectCapKey is the cap of an enterprise for one project.
func ProjectCapKey(uscc, project string) string { return "cap/" + uscc + "/project/" + project }

// EnterpriseCapKey is the overall cap of an enterprise.
func EnterpriseCapKey(uscc string) string { return "cap/" + uscc }

// Transfer ids of a grant. The ids derive from the grant id, so that a
// retried Reserve, Pay or Release is a replay and never a second grant.
func grantCapID(id, capKey string) string   { return "grant/" + id + "/cap/" + capKey }
func payID(id string) string                { return "grant/" + id + "/pay" }
func payCapID(id, capKey string) string     { return "grant/" + id + "/pay/cap/" + capKey }
func paidID(id string) string               { return "grant/" + id + "/paid" }
func releaseID(id string) string            { return "grant/" + id + "/release" }
func releaseCapID(id, capKey string) string { return "grant/" + id + "/release/cap/" + capKey }
func capLimitID(capKey string) string       { return "caplimit/" + capKey }
func fundID(id string) string               { return "fund/" + id }
func clawID(id string) string               { return "claw/" + id }
func clawCapID(id, capKey string) string    { return "claw/" + id + "/cap/" + capKey }
func clawPaidID(id string) string           { return "claw/" + id + "/paid" }

// GrantTransferID is the id of the pending transfer that reserves a
// grant's amount in its pool.
func GrantTransferID(grantID string) string { return "grant/" + grantID }
