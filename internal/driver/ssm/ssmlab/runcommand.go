package ssmlab

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ottr-go/ottr/internal/awslab"
)

// The SSM side: Run Command over the AWS JSON 1.1 protocol (POST /,
// Content-Type application/x-amz-json-1.1, X-Amz-Target
// AmazonSSM.<Operation>), with the request and answer shapes of the SSM API
// reference.

const ssmTargetPrefix = "AmazonSSM."

// RunShellScript is the only document the emulator runs.
const RunShellScript = "AWS-RunShellScript"

// pluginName is the one step of AWS-RunShellScript.
const pluginName = "aws:runShellScript"

// outputLimit is how much of each output GetCommandInvocation returns.
const outputLimit = 24000

// Command statuses, as GetCommandInvocation reports them.
const (
	statusPending    = "Pending"
	statusInProgress = "InProgress"
	statusSuccess    = "Success"
	statusFailed     = "Failed"
	statusCancelled  = "Cancelled"
	statusCancelling = "Cancelling"
	statusTimedOut   = "TimedOut"
)

// Parameter limits of AWS-RunShellScript and SendCommand.
const (
	defaultExecutionTimeout = 3600
	maxExecutionTimeout     = 172800
	minDeliveryTimeout      = 30
	maxDeliveryTimeout      = 2592000
)

func (s *Service) serveSSM(w http.ResponseWriter, r *http.Request, target string, body []byte) {
	switch target {
	case ssmTargetPrefix + "SendCommand":
		s.sendCommand(w, body)
	case ssmTargetPrefix + "GetCommandInvocation":
		// An SDK's retry of a request sends its invocation ID again.
		s.getCommandInvocation(w, body, r.Header.Get("Amz-Sdk-Invocation-Id"))
	case ssmTargetPrefix + "CancelCommand":
		s.cancelCommand(w, body)
	case ssmTargetPrefix + "DescribeInstanceInformation":
		s.describeInstanceInformation(w, body)
	default:
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("The operation %q is not supported by this emulator.", strings.TrimPrefix(target, ssmTargetPrefix)))
	}
}

// command is one SendCommand call.
type command struct {
	id             string
	document       string
	comment        string
	parameters     map[string][]string
	timeoutSeconds int
	requested      time.Time
	instanceIDs    []string
	invocations    map[string]*invocation
}

// invocation is a command on one instance.
type invocation struct {
	cmd  *command
	inst *Instance

	mu           sync.Mutex
	status       string
	details      string
	responseCode int
	stdout       string
	stderr       string
	start, end   time.Time
	polls        int
	lastPollID   string
	cancel       context.CancelFunc
	cancelled    bool
	done         chan struct{}
}

func (c *command) cancelAll() {
	for _, inv := range c.invocations {
		inv.requestCancel()
	}
}

func (c *command) wait() {
	for _, inv := range c.invocations {
		<-inv.done
	}
}

func (c *command) finished() bool {
	for _, inv := range c.invocations {
		select {
		case <-inv.done:
		default:
			return false
		}
	}
	return true
}

type sendCommandInput struct {
	DocumentName   string              `json:"DocumentName"`
	InstanceIds    []string            `json:"InstanceIds"`
	Targets        []json.RawMessage   `json:"Targets"`
	Parameters     map[string][]string `json:"Parameters"`
	TimeoutSeconds *int                `json:"TimeoutSeconds"`
	Comment        string              `json:"Comment"`
}

func (s *Service) sendCommand(w http.ResponseWriter, body []byte) {
	var in sendCommandInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected.")
		return
	}
	switch {
	case in.DocumentName == "":
		writeJSONError(w, http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value null at 'documentName' failed to satisfy constraint: Member must not be null")
		return
	case in.DocumentName != RunShellScript:
		writeJSONError(w, http.StatusBadRequest, "InvalidDocument", "Document with name "+in.DocumentName+" does not exist.")
		return
	case len(in.Targets) > 0:
		writeJSONError(w, http.StatusBadRequest, "InvalidParameters", "This emulator sends commands to InstanceIds only, not Targets.")
		return
	case len(in.InstanceIds) == 0 || len(in.InstanceIds) > 50:
		writeJSONError(w, http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length between 1 and 50")
		return
	case len(in.Comment) > 100:
		writeJSONError(w, http.StatusBadRequest, "ValidationException",
			"1 validation error detected: Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100")
		return
	}
	timeout := 3600
	if in.TimeoutSeconds != nil {
		timeout = *in.TimeoutSeconds
		if timeout < minDeliveryTimeout || timeout > maxDeliveryTimeout {
			writeJSONError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf(
				"1 validation error detected: Value '%d' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between %d and %d",
				timeout, minDeliveryTimeout, maxDeliveryTimeout))
			return
		}
	}
	script, execTimeout, workDir, msg := runShellScriptParameters(in.Parameters)
	if msg != "" {
		writeJSONError(w, http.StatusBadRequest, "InvalidParameters", msg)
		return
	}

	s.mu.Lock()
	var targets []*Instance
	var bad []string
	for _, id := range in.InstanceIds {
		inst := s.instanceLocked(id)
		if inst == nil || inst.State() != StateRunning {
			bad = append(bad, id)
			continue
		}
		targets = append(targets, inst)
	}
	if len(bad) > 0 {
		s.mu.Unlock()
		writeJSONError(w, http.StatusBadRequest, "InvalidInstanceId",
			fmt.Sprintf("Instances [[%s]] not in a valid state for account %s", strings.Join(bad, ", "), s.cfg.AccountID))
		return
	}
	cmd := &command{
		id:             awslab.RequestID(),
		document:       in.DocumentName,
		comment:        in.Comment,
		parameters:     in.Parameters,
		timeoutSeconds: timeout,
		requested:      s.cfg.Now(),
		instanceIDs:    in.InstanceIds,
		invocations:    map[string]*invocation{},
	}
	for _, inst := range targets {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(execTimeout)*time.Second)
		inv := &invocation{cmd: cmd, inst: inst, status: statusPending, details: statusPending,
			responseCode: -1, cancel: cancel, done: make(chan struct{})}
		cmd.invocations[inst.ID()] = inv
		go inv.run(ctx, script, workDir)
	}
	s.remember(cmd)
	s.sent++
	s.mu.Unlock()

	s.cfg.Logger.Debug("lab ssm: command sent", "command", cmd.id, "instances", strings.Join(in.InstanceIds, ","))
	writeJSON(w, map[string]any{"Command": cmd.describe(statusPending)})
}

// runShellScriptParameters checks the parameters of AWS-RunShellScript and
// returns the script, its execution timeout in seconds and its working
// directory, or the error message.
func runShellScriptParameters(params map[string][]string) (script string, timeout int, workDir, msg string) {
	timeout = defaultExecutionTimeout
	for name, values := range params {
		switch name {
		case "commands":
			if len(values) == 0 || strings.TrimSpace(strings.Join(values, "")) == "" {
				return "", 0, "", `Parameter "commands" must not be empty.`
			}
			// The agent writes the commands into one script, a line
			// each.
			script = strings.Join(values, "\n")
		case "executionTimeout":
			n, err := strconv.Atoi(strings.Join(values, ""))
			if err != nil || len(values) != 1 || n < 1 || n > maxExecutionTimeout {
				return "", 0, "", fmt.Sprintf(`Parameter "executionTimeout" must be a number of seconds from 1 to %d.`, maxExecutionTimeout)
			}
			timeout = n
		case "workingDirectory":
			if len(values) != 1 {
				return "", 0, "", `Parameter "workingDirectory" takes one value.`
			}
			workDir = values[0]
		default:
			return "", 0, "", fmt.Sprintf("Parameter %q is not defined in document %s.", name, RunShellScript)
		}
	}
	if script == "" {
		return "", 0, "", `Parameter "commands" is required.`
	}
	return script, timeout, workDir, ""
}

// remember stores cmd, forgetting the oldest finished commands beyond
// maxCommands. s.mu is held.
func (s *Service) remember(cmd *command) {
	s.commands[cmd.id] = cmd
	s.order = append(s.order, cmd.id)
	for i := 0; len(s.commands) > maxCommands && i < len(s.order); {
		old := s.commands[s.order[i]]
		if old == nil || old.finished() {
			delete(s.commands, s.order[i])
			s.order = append(s.order[:i], s.order[i+1:]...)
			continue
		}
		i++
	}
}

// describe returns the Command structure SendCommand answers with.
func (c *command) describe(status string) map[string]any {
	return map[string]any{
		"CommandId":              c.id,
		"DocumentName":           c.document,
		"DocumentVersion":        "$DEFAULT",
		"Comment":                c.comment,
		"ExpiresAfter":           epochSeconds(c.requested.Add(time.Duration(c.timeoutSeconds) * time.Second)),
		"Parameters":             c.parameters,
		"InstanceIds":            c.instanceIDs,
		"Targets":                []any{},
		"RequestedDateTime":      epochSeconds(c.requested),
		"Status":                 status,
		"StatusDetails":          status,
		"OutputS3Region":         "",
		"OutputS3BucketName":     "",
		"OutputS3KeyPrefix":      "",
		"MaxConcurrency":         "50",
		"MaxErrors":              "0",
		"TargetCount":            len(c.instanceIDs),
		"CompletedCount":         0,
		"ErrorCount":             0,
		"DeliveryTimedOutCount":  0,
		"ServiceRole":            "",
		"NotificationConfig":     map[string]any{"NotificationArn": "", "NotificationEvents": []string{}, "NotificationType": ""},
		"CloudWatchOutputConfig": map[string]any{"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false},
		"TimeoutSeconds":         c.timeoutSeconds,
	}
}

type invocationInput struct {
	CommandId  string `json:"CommandId"`
	InstanceId string `json:"InstanceId"`
	PluginName string `json:"PluginName"`
}

func (s *Service) getCommandInvocation(w http.ResponseWriter, body []byte, pollID string) {
	var in invocationInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected.")
		return
	}
	if len(in.CommandId) != 36 {
		writeJSONError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf(
			"1 validation error detected: Value '%s' at 'commandId' failed to satisfy constraint: Member must have length less than or equal to 36", in.CommandId))
		return
	}
	if in.PluginName != "" && in.PluginName != pluginName && in.PluginName != "runShellScript" {
		writeJSONError(w, http.StatusBadRequest, "InvalidPluginName", "The plugin name is not valid.")
		return
	}
	s.mu.Lock()
	var inv *invocation
	if cmd := s.commands[in.CommandId]; cmd != nil {
		inv = cmd.invocations[in.InstanceId]
	}
	s.mu.Unlock()
	if inv == nil {
		writeInvocationDoesNotExist(w)
		return
	}
	answer, visible := inv.report(s.cfg.DelayedPolls, pollID)
	if !visible {
		writeInvocationDoesNotExist(w)
		return
	}
	writeJSON(w, answer)
}

func writeInvocationDoesNotExist(w http.ResponseWriter) {
	writeJSONError(w, http.StatusBadRequest, "InvocationDoesNotExist",
		"The command ID and instance ID you specified did not match any invocations. Verify the command ID and the instance ID and try again.")
}

// report returns what GetCommandInvocation answers now, and false while
// the invocation is not visible yet. Polls up to delayed see the invocation
// as AWS shows it right after SendCommand: missing, then in progress. A
// retry of the last poll (the same non-empty pollID) counts as that poll.
func (inv *invocation) report(delayed int, pollID string) (map[string]any, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if pollID == "" || pollID != inv.lastPollID {
		inv.polls++
		inv.lastPollID = pollID
	}
	status, details, code := inv.status, inv.details, inv.responseCode
	stdout, stderr := inv.stdout, inv.stderr
	start, end := inv.start, inv.end
	if inv.polls <= delayed {
		if inv.polls == 1 {
			return nil, false
		}
		// A command the instance has not picked up yet, or has already
		// finished, still shows InProgress while AWS would lag behind.
		if status != statusInProgress && status != statusCancelling {
			status, details, code, stdout, stderr, end = statusInProgress, statusInProgress, -1, "", "", time.Time{}
		}
	}
	stdout, stderr = cut(stdout), cut(stderr)
	inv.inst.scanOutput(stdout, stderr)
	answer := map[string]any{
		"CommandId":              inv.cmd.id,
		"InstanceId":             inv.inst.ID(),
		"Comment":                inv.cmd.comment,
		"DocumentName":           inv.cmd.document,
		"DocumentVersion":        "$DEFAULT",
		"PluginName":             pluginName,
		"ResponseCode":           code,
		"ExecutionStartDateTime": isoTime(start),
		"ExecutionElapsedTime":   elapsed(start, end),
		"ExecutionEndDateTime":   isoTime(end),
		"Status":                 status,
		"StatusDetails":          details,
		"StandardOutputContent":  stdout,
		"StandardOutputUrl":      "",
		"StandardErrorContent":   stderr,
		"StandardErrorUrl":       "",
		"CloudWatchOutputConfig": map[string]any{"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false},
	}
	return answer, true
}

func isRunning(status string) bool {
	return status == statusPending || status == statusInProgress || status == statusCancelling
}

type cancelInput struct {
	CommandId   string   `json:"CommandId"`
	InstanceIds []string `json:"InstanceIds"`
}

func (s *Service) cancelCommand(w http.ResponseWriter, body []byte) {
	var in cancelInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected.")
		return
	}
	s.mu.Lock()
	cmd := s.commands[in.CommandId]
	s.mu.Unlock()
	if cmd == nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidCommandId", "")
		return
	}
	for id, inv := range cmd.invocations {
		if len(in.InstanceIds) == 0 || slices.Contains(in.InstanceIds, id) {
			inv.requestCancel()
		}
	}
	writeJSON(w, map[string]any{})
}

// requestCancel stops a running invocation; a finished one keeps its
// status.
func (inv *invocation) requestCancel() {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if !isRunning(inv.status) {
		return
	}
	inv.cancelled = true
	inv.status, inv.details = statusCancelling, statusCancelling
	inv.cancel()
}

// run executes the script on the instance and records the outcome.
func (inv *invocation) run(ctx context.Context, script, workDir string) {
	defer close(inv.done)
	defer inv.cancel()
	now := inv.inst.svc.cfg.Now
	inv.mu.Lock()
	if inv.status == statusPending {
		inv.status, inv.details = statusInProgress, statusInProgress
	}
	inv.start = now()
	inv.mu.Unlock()

	res := inv.inst.runScript(ctx, script, workDir)

	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.end = now()
	inv.stdout, inv.stderr, inv.responseCode = res.stdout, res.stderr, res.exitCode
	switch {
	case inv.cancelled:
		inv.status, inv.details = statusCancelled, statusCancelled
	case ctx.Err() != nil:
		inv.status, inv.details = statusTimedOut, "Execution Timed Out"
		inv.stderr += "failed to run commands: command timed out\n"
	case res.exitCode == 0:
		inv.status, inv.details = statusSuccess, statusSuccess
	default:
		inv.status, inv.details = statusFailed, statusFailed
		// The agent adds this line to a failed script's error output.
		inv.stderr += fmt.Sprintf("failed to run commands: exit status %d\n", res.exitCode)
	}
	inv.inst.svc.cfg.Logger.Debug("lab ssm: command done", "command", inv.cmd.id,
		"instance", inv.inst.ID(), "status", inv.status, "exit", res.exitCode)
}

// cut returns the first outputLimit characters of s, as
// GetCommandInvocation returns them.
func cut(s string) string {
	if utf8.RuneCountInString(s) <= outputLimit {
		return s
	}
	n := 0
	for i := range s {
		if n == outputLimit {
			return s[:i]
		}
		n++
	}
	return s
}

func epochSeconds(t time.Time) float64 {
	return math.Round(float64(t.UnixMilli())) / 1000
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func elapsed(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return ""
	}
	return fmt.Sprintf("PT%.3fS", end.Sub(start).Seconds())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", awslab.RequestID())
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONError answers in the AWS JSON error shape:
// {"__type": "<code>", "message": "<text>"}.
func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", awslab.RequestID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": message})
}
