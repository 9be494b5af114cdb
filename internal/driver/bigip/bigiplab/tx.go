package bigiplab

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Transactions (/mgmt/tm/transaction): requests sent with an
// X-F5-REST-Coordination-Id header are queued, and committing the
// transaction runs them all against a copy of the configuration that
// replaces the live one only if every command succeeds.

// transaction is one iControl REST transaction.
type transaction struct {
	id            int64
	state         string // STARTED, VALIDATING, COMPLETED or FAILED
	commands      []op
	failureReason string
	async         bool
	validateOnly  bool
	// pendingPolls counts the GETs that still report VALIDATING after an
	// asynchronous commit, so clients must poll.
	pendingPolls int
}

const (
	txStarted    = "STARTED"
	txValidating = "VALIDATING"
	txCompleted  = "COMPLETED"
	txFailed     = "FAILED"
)

func (d *Device) transactionJSON(tx *transaction) map[string]any {
	st := tx.state
	if tx.pendingPolls > 0 {
		st = txValidating
	}
	m := map[string]any{
		"transId": tx.id, "state": st, "timeoutSeconds": 120, "asyncExecution": tx.async,
		"validateOnly": tx.validateOnly, "executionTimeout": 300, "executionTime": 0,
		"failureReason": "", "kind": "tm:transactionstate",
		"selfLink": d.selfLink("transaction/" + strconv.FormatInt(tx.id, 10)),
	}
	if tx.pendingPolls == 0 {
		m["failureReason"] = tx.failureReason
	}
	return m
}

// transactionBody is what POST and PATCH on a transaction take.
type transactionBody struct {
	State          string `json:"state"`
	AsyncExecution bool   `json:"asyncExecution"`
	ValidateOnly   bool   `json:"validateOnly"`
}

func (d *Device) transactionEndpoint(r *http.Request, rest string, body []byte) reply {
	idText, sub, _ := strings.Cut(rest, "/")
	if idText == "" {
		switch r.Method {
		case http.MethodPost:
			return d.beginTransaction(body)
		case http.MethodGet:
			d.mu.Lock()
			defer d.mu.Unlock()
			items := make([]any, 0, len(d.transactions))
			for _, tx := range d.transactions {
				items = append(items, d.transactionJSON(tx))
			}
			return ok(map[string]any{"kind": "tm:transactioncollectionstate", "items": items})
		}
		return tmError(errorf(http.StatusMethodNotAllowed, "Method %s is not supported on /tm/transaction.", r.Method))
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return tmError(errorf(http.StatusNotFound, "Transaction %s was not found.", idText))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, found := d.transactions[id]
	if !found {
		return tmError(errorf(http.StatusNotFound, "Transaction %d was not found.", id))
	}
	switch {
	case sub == "commands" && r.Method == http.MethodGet:
		items := make([]any, 0, len(tx.commands))
		for i, c := range tx.commands {
			items = append(items, d.commandJSON(tx, i, c))
		}
		return ok(map[string]any{"kind": "tm:transaction:commandscollectionstate", "items": items})
	case sub != "":
		return d.notRegistered(r)
	case r.Method == http.MethodGet:
		res := d.transactionJSON(tx)
		if tx.pendingPolls > 0 {
			tx.pendingPolls--
		}
		return ok(res)
	case r.Method == http.MethodDelete:
		delete(d.transactions, id)
		return reply{status: http.StatusOK}
	case r.Method == http.MethodPatch:
		return d.commit(tx, body)
	}
	return tmError(errorf(http.StatusMethodNotAllowed, "Method %s is not supported on /tm/transaction/%d.", r.Method, id))
}

func (d *Device) beginTransaction(body []byte) reply {
	var req transactionBody
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := decode(body, &req); err != nil {
			return tmError(err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextTransID++
	// Real transaction ids are microsecond timestamps; any unique number does.
	tx := &transaction{id: d.cfg.Now().UnixMicro() + d.nextTransID, state: txStarted, async: req.AsyncExecution}
	d.transactions[tx.id] = tx
	return ok(d.transactionJSON(tx))
}

// queue adds a request to a transaction instead of running it.
func (d *Device) queue(idText string, o op) reply {
	id, err := strconv.ParseInt(idText, 10, 64)
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, found := d.transactions[id]
	if err != nil || !found {
		return tmError(errorf(http.StatusNotFound, "Transaction %s was not found.", idText))
	}
	if tx.state != txStarted {
		return tmError(errorf(http.StatusBadRequest, "Transaction %d is %s; commands can only be added while it is STARTED.", id, tx.state))
	}
	tx.commands = append(tx.commands, o)
	return ok(d.commandJSON(tx, len(tx.commands)-1, o))
}

func (d *Device) commandJSON(tx *transaction, i int, o op) map[string]any {
	var body any
	_ = json.Unmarshal(o.body, &body)
	return map[string]any{
		"transId": tx.id, "method": o.method, "uri": "https://localhost/mgmt/tm/" + o.path, "body": body,
		"evalOrder": i + 1, "commandId": i + 1, "kind": "tm:transaction:commandsstate",
		"selfLink": d.selfLink(fmt.Sprintf("transaction/%d/commands/%d", tx.id, i+1)),
	}
}

// commit runs a transaction. The caller holds d.mu.
func (d *Device) commit(tx *transaction, body []byte) reply {
	var req transactionBody
	if err := decode(body, &req); err != nil {
		return tmError(err)
	}
	if req.State != txValidating {
		return tmError(errorf(http.StatusBadRequest, "invalid property value \"state\":%q; a transaction is committed with VALIDATING", req.State))
	}
	if tx.state != txStarted {
		return tmError(errorf(http.StatusBadRequest, "Transaction %d is %s and cannot be committed again.", tx.id, tx.state))
	}
	tx.validateOnly = req.ValidateOnly
	work := d.st.clone()
	var failure string
	for _, c := range tx.commands {
		c.inTransaction = true
		if _, err := d.apply(work, c); err != nil {
			failure = err.msg
			break
		}
	}
	if failure == "" && d.failInstalls.Load() {
		failure = failureMessage
	}
	switch {
	case failure != "":
		tx.state, tx.failureReason = txFailed, failure
	case tx.validateOnly:
		tx.state = txCompleted
	default:
		d.st = work
		d.refreshVirtual()
		tx.state = txCompleted
	}
	if d.commitAnswerState != "" {
		res := d.transactionJSON(tx)
		res["state"] = d.commitAnswerState
		return ok(res)
	}
	if tx.async || d.asyncCommits.Load() {
		tx.pendingPolls = 1
		return reply{status: http.StatusAccepted, body: d.transactionJSON(tx)}
	}
	if failure != "" {
		return reply{status: http.StatusBadRequest, body: map[string]any{
			"code": 400, "message": "transaction failed:" + failure, "errorStack": []string{}, "apiError": 2,
		}}
	}
	return ok(d.transactionJSON(tx))
}
